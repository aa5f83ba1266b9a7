"""The scripts machines run, by purpose, as one POSIX shell program (busybox in the image;
the simulator runs the same text). Every path a script reads is under $ROOT, so the
simulator can point it at a hardware description instead of a real /proc and /sys.

Each script's output, exit status and runtime are posted to the metadata API as they end
(`WORKING`); the run ends with `OK` or `FAILED`. The region answers the last post with what
the machine does next: `poweroff`, `continue` (fetch the next script now) or `stay`.
"""

from __future__ import annotations

from jinja2 import Environment, StrictUndefined

_env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)

# name -> shell body; output goes to stdout, failure is a non-zero exit.
COMMISSIONING: dict[str, str] = {
    "00-cpu": 'cat "$ROOT/proc/cpuinfo"',
    "01-memory": 'cat "$ROOT/proc/meminfo"',
    "02-block-devices": r'''
for dev in "$ROOT"/sys/block/*; do
    [ -e "$dev" ] || continue
    name="${dev##*/}"
    case "$name" in loop*|ram*|sr*|fd*|dm-*|zram*) continue ;; esac
    echo "name=$name"
    echo "size=$(( $(cat "$dev/size") * 512 ))"
    echo "model=$(cat "$dev/device/model" 2>/dev/null | sed 's/ *$//')"
    echo "serial=$(cat "$dev/device/serial" 2>/dev/null || cat "$dev/serial" 2>/dev/null)"
    echo "rotational=$(cat "$dev/queue/rotational" 2>/dev/null || echo 0)"
    echo "--"
done''',
    "03-interfaces": r'''
boot="$(echo "${BOOTIF#01-}" | tr - : | tr A-F a-f)"
for dev in "$ROOT"/sys/class/net/*; do
    [ -e "$dev" ] || continue
    name="${dev##*/}"
    [ "$name" = lo ] && continue
    [ -e "$dev/device" ] || continue
    mac="$(cat "$dev/address")"
    echo "name=$name"
    echo "mac=$mac"
    echo "speed=$(cat "$dev/speed" 2>/dev/null || echo 0)"
    echo "driver=$(basename "$(readlink "$dev/device/driver" 2>/dev/null)" 2>/dev/null)"
    [ "$mac" = "$boot" ] && echo "boot=1"
    echo "--"
done''',
    "04-architecture": 'cat "$ROOT/proc/sys/kernel/arch" 2>/dev/null || uname -m',
    "05-bmc-config": r'''
# IPMI BMC: found in-band (the simulator describes it in $ROOT/run/bmc.env); with no
# working credentials, a "maas" user with a generated password is made, as MAAS does.
[ -r "$ROOT/run/bmc.env" ] || { echo "no BMC found"; exit 0; }
. "$ROOT/run/bmc.env"
echo "power_type=ipmi"
echo "power_address=$address"
[ "$CONFIGURE_BMC" = 1 ] || exit 0
password="$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
set -- ipmitool -I lanplus -H "${address%:*}" -p "${address##*:}" -U "$user" -P "$secret"
"$@" user set name 3 maas >/dev/null &&
"$@" user set password 3 "$password" >/dev/null &&
"$@" channel setaccess 1 3 link=on ipmi=on callin=on privilege=4 >/dev/null &&
"$@" user enable 3 >/dev/null || { echo "BMC user setup failed" >&2; exit 1; }
echo "power_user=maas"
echo "power_pass=$password"''',
}

TESTING: dict[str, str] = {
    "cpu-stress": r'''
cpus="$(grep -c ^processor "$ROOT/proc/cpuinfo")"
[ "$cpus" -gt 2 ] && cpus=2
end=$(( $(date +%s) + ${STRESS_SECONDS:-2} ))
for n in $(seq "$cpus"); do
    ( while [ "$(date +%s)" -lt "$end" ]; do :; done ) &
done
wait
echo "stressed $cpus CPUs for ${STRESS_SECONDS:-2} s"''',
    "memory-check": r'''
total="$(awk '/^MemTotal:/ {print $2}' "$ROOT/proc/meminfo")"
available="$(awk '/^MemAvailable:/ {print $2}' "$ROOT/proc/meminfo")"
echo "MemTotal ${total} kB, MemAvailable ${available} kB"
[ "${available:-0}" -gt 0 ] || { echo "no memory available" >&2; exit 1; }
dd if=/dev/zero of="$ROOT/tmp/memory-check" bs=1M count=8 2>/dev/null &&
[ "$(wc -c < "$ROOT/tmp/memory-check")" -eq 8388608 ] || exit 1
rm -f "$ROOT/tmp/memory-check"
echo "8 MiB written and read back"''',
    "disk-read": r'''
status=0
for dev in "$ROOT"/sys/block/*; do
    [ -e "$dev" ] || continue
    name="${dev##*/}"
    case "$name" in loop*|ram*|sr*|fd*|dm-*|zram*) continue ;; esac
    start="$(cut -d' ' -f1 /proc/uptime)"
    if dd if="$ROOT/dev/$name" of=/dev/null bs=1M count=16 2>/dev/null; then
        end="$(cut -d' ' -f1 /proc/uptime)"
        echo "$name: read 16 MiB in $(echo "$end $start" | awk '{printf "%.2f", $1 - $2}') s"
    else
        echo "$name: read failed" >&2
        status=1
    fi
done
exit $status''',
    # (no `wget -T`: busybox 1.35's static wget crashes with it; `timeout` bounds it)
    "network-rack": r'''
rack="${baremetal_url%/MAAS/metadata/*}"
timeout 10 wget -q -O /dev/null "$rack/undionly.kpxe" && echo "rack $rack reachable"''',
}

DEFAULT_TESTS = ("cpu-stress", "memory-check", "disk-read", "network-rack")

_PROGRAM = _env.from_string(r'''#!/bin/sh
# baremetal: {{ purpose }} for {{ system_id or "an unknown machine" }}
ROOT="${ROOT:-}"
CONFIGURE_BMC={{ 1 if configure_bmc else 0 }}
STRESS_SECONDS={{ stress_seconds }}
B="baremetal-boundary-$$"
T="$ROOT/tmp/baremetal.$$"
mkdir -p "$T"

post() {  # post PATH [name=value | @name=file]...
    path="$1"; shift
    : > "$T/body"
    for arg in "$@"; do
        case "$arg" in
            @*) name="${arg#@}"; name="${name%%=*}"
                printf -- '--%s\r\nContent-Disposition: form-data; name="%s"; ' \
                    "$B" "$name" >> "$T/body"
                printf 'filename="%s"\r\nContent-Type: application/octet-stream\r\n\r\n' \
                    "$name" >> "$T/body"
                cat "${arg#*=}" >> "$T/body"; printf '\r\n' >> "$T/body" ;;
            *) printf -- '--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' \
                    "$B" "${arg%%=*}" "${arg#*=}" >> "$T/body" ;;
        esac
    done
    printf -- '--%s--\r\n' "$B" >> "$T/body"
    # A report can meet a busy rack or region: try again a few times before giving up.
    for attempt in 1 2 3 4 5; do
        if wget -q -O "$T/answer" --header "Authorization: Bearer $baremetal_token" \
                --header "Content-Type: multipart/form-data; boundary=$B" \
                --post-file "$T/body" "${baremetal_url}latest/$path"; then
            cat "$T/answer"
            return 0
        fi
        sleep "$attempt"
    done
    return 1
}

now() { cut -d' ' -f1 /proc/uptime; }

run() {  # run NAME: run the script function, post its result
    name="$1"
    start="$(now)"
    ( "script_$2" ) > "$T/$name.out" 2>&1
    code=$?
    runtime="$(echo "$(now) $start" | awk '{printf "%.2f", $1 - $2}')"
{% if purpose != "enlist" %}
    post signal status=WORKING "exit_status.$name=$code" "runtime.$name=$runtime" \
        "@$name=$T/$name.out" > /dev/null || { echo "baremetal: cannot report" >&2; exit 1; }
{% endif %}
    return $code
}
{% for name, body in scripts %}

script_{{ loop.index }}() {
{{ body }}
}
{% endfor %}

failed=0
{% for name, _ in scripts %}
run {{ name }} {{ loop.index }} || failed=$((failed + 1))
{% endfor %}
{% if purpose == "enlist" %}
set --
for name in {{ scripts | map(attribute=0) | join(" ") }}; do set -- "$@" "@$name=$T/$name.out"; done
post enlist "$@" > /dev/null || exit 1
echo poweroff > "$T/next"
{% else %}
if [ "$failed" = 0 ]; then status=OK; else status=FAILED; fi
post signal "status=$status" "error=$failed script(s) failed" > "$T/next" || exit 1
{% endif %}
case "$(cat "$T/next" 2>/dev/null)" in
    continue) exec "${BAREMETAL_RUN:-/baremetal/run}" ;;
    stay) touch "$ROOT/tmp/baremetal-stay" ;;
esac
exit 0
''')

DEPLOY = r'''
auth="Authorization: Bearer $baremetal_token"
mkdir -p "$ROOT/etc/baremetal" "$ROOT/root/.ssh"
wget -q -O "$ROOT/etc/baremetal/user-data" --header "$auth" \
    "${baremetal_url}latest/user-data" || true
wget -q -O "$ROOT/root/.ssh/authorized_keys" --header "$auth" "${baremetal_url}latest/ssh-keys"
echo "deployed $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$ROOT/etc/baremetal-deployed"
if head -c 2 "$ROOT/etc/baremetal/user-data" 2>/dev/null | grep -q '#!'; then
    sh "$ROOT/etc/baremetal/user-data"
fi
echo "marker written, $(wc -l < "$ROOT/root/.ssh/authorized_keys") SSH key(s) installed"'''

ERASE = r'''
for dev in "$ROOT"/sys/block/*; do
    [ -e "$dev" ] || continue
    name="${dev##*/}"
    case "$name" in loop*|ram*|sr*|fd*|dm-*|zram*) continue ;; esac
    dd if=/dev/zero of="$ROOT/dev/$name" bs=1M count=4 conv=notrunc 2>/dev/null &&
        echo "$name: first 4 MiB zeroed (quick erase)" || { echo "$name: erase failed"; exit 1; }
done'''


def render(purpose: str, *, system_id: str | None = None, names: list[str] | None = None,
           configure_bmc: bool = False, stress_seconds: int = 2) -> str:
    """The program a machine runs for `purpose` (enlist, commission, test, deploy, erase,
    poweroff), with the chosen scripts."""
    catalog = {**COMMISSIONING, **TESTING, "deploy": DEPLOY, "erase": ERASE}
    if purpose == "enlist":
        chosen = list(COMMISSIONING)
    elif purpose == "deploy":
        chosen = ["deploy"]
    elif purpose == "erase":
        chosen = ["erase"]
    elif purpose in ("commission", "test"):
        chosen = list(names or ())
    else:
        return "#!/bin/sh\n# nothing to do: power off\nexit 0\n"
    scripts = [(name, catalog[name].strip("\n")) for name in chosen]
    return _PROGRAM.render(purpose=purpose, system_id=system_id, scripts=scripts,
                           configure_bmc=configure_bmc or purpose == "enlist",
                           stress_seconds=stress_seconds)


CLOUD_INIT_RUNNER = r'''#!/bin/sh
# baremetal: the user data of a machine in the real OS environment. cloud-init runs it;
# it reads the kernel command line (metadata URL, token, BOOTIF) as the busybox image's
# init does, runs what the region serves for the machine's state, then powers off unless
# told to stay.
: > /run/baremetal.env
for word in $(cat /proc/cmdline); do
    case "$word" in
        baremetal.*=*|BOOTIF=*)
            key="${word%%=*}"; key="$(echo "$key" | tr . _)"
            echo "$key='${word#*=}'" >> /run/baremetal.env ;;
    esac
done
. /run/baremetal.env
export baremetal_url baremetal_token baremetal_purpose baremetal_system_id BOOTIF
mkdir -p /baremetal
cat > /baremetal/run <<'BAREMETAL_RUN'
{run}
BAREMETAL_RUN
chmod +x /baremetal/run
echo "baremetal: ${baremetal_purpose:-unknown} via ${baremetal_url}"
/baremetal/run
if [ -e /tmp/baremetal-stay ]; then
    echo "baremetal: staying up"
    exit 0
fi
echo "baremetal: done; powering off"
sync
nohup sh -c 'sleep 2; systemctl poweroff' > /dev/null 2>&1 &
exit 0
'''


def cloud_init_runner() -> str:
    """The user data that makes cloud-init run the region's program (the same `run`
    script the busybox image runs)."""
    from importlib import resources

    run = (resources.files("baremetal.images") / "initramfs" / "run").read_text()
    return CLOUD_INIT_RUNNER.replace("{run}", run.rstrip("\n"))
