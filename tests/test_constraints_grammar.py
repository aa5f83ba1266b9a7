import contextlib
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baremetal.constraints import (
    ConstraintError,
    Constraints,
    InterfaceSpec,
    StorageSpec,
    SubnetSpec,
    parse_allocation,
    parse_constraints,
    parse_interfaces,
    parse_storage,
    render_constraints,
)


def test_juju_style_request():
    constraints, options = parse_allocation({
        "cpu_count": ["4"], "mem": ["1024.0"], "tags": ["gpu,ssd", "fast"],
        "not_in_zones": ["z2"], "not_in_zone": ["z3"], "zone": ["z1"], "arch": ["amd64"],
        "agent_name": ["uuid-1"], "dry_run": ["true"], "comment": ["hi"],
    })
    assert constraints.cpu_count == 4 and constraints.mem == 1024
    assert constraints.tags == ("gpu", "ssd", "fast")
    assert set(constraints.not_in_zone) == {"z2", "z3"}
    assert options.agent_name == "uuid-1" and options.dry_run and options.comment == "hi"


def test_unknown_constraint_is_refused_with_maas_message():
    with pytest.raises(ConstraintError) as raised:
        parse_allocation({"colour": ["blue"]})
    assert raised.value.field == "colour"
    assert raised.value.message == "No such constraint."


@pytest.mark.parametrize(("key", "value"), [("cpu_count", "many"), ("mem", "-1"),
                                            ("mem", "nan"), ("dry_run", "maybe")])
def test_bad_numbers(key, value):
    with pytest.raises(ConstraintError) as raised:
        parse_allocation({key: [value]})
    assert raised.value.field == key and value in raised.value.message


def test_storage_grammar():
    specs = parse_storage("root:50(ssd),100(hdd,rotary),data:1.5")
    assert specs == (
        StorageSpec("root", 50.0, ("ssd",)),
        StorageSpec("1", 100.0, ("hdd", "rotary")),
        StorageSpec("data", 1.5, ()),
    )


@pytest.mark.parametrize(("text", "where"), [
    ("root:fifty", "root:fifty"),
    ("root:50,", "Malformed"),
    ("root:50(ssd", "(ssd"),
    ("root:50;data:20", ";data:20"),
    ("a:1,a:2", "Duplicate"),
    ("root:0", "above 0"),
])
def test_storage_errors_say_which_part(text, where):
    with pytest.raises(ConstraintError) as raised:
        parse_storage(text)
    assert raised.value.field == "storage"
    assert where in raised.value.message


def test_interfaces_grammar():
    specs = parse_interfaces("eth0:space=public,mode=dhcp;eth1:not_fabric=storage,link_speed=10000")
    assert specs == (
        InterfaceSpec("eth0", (("space", "public"), ("mode", "dhcp"))),
        InterfaceSpec("eth1", (("not_fabric", "storage"), ("link_speed", "10000"))),
    )


@pytest.mark.parametrize(("text", "where"), [
    ("eth0", "Malformed interfaces constraint at 'eth0'"),
    ("eth0:space", "Malformed condition 'space'"),
    ("eth0:colour=red", "Unknown key 'colour'"),
    ("eth0:mode=bogus", "Invalid value 'bogus' for 'mode'"),
    ("eth0:vid=5000", "Invalid value '5000'"),
    ("eth0:not_link_speed=5", "Unknown key 'not_link_speed'"),
    ("a:name=x;a:name=y", "Duplicate"),
])
def test_interfaces_errors_say_which_part(text, where):
    with pytest.raises(ConstraintError) as raised:
        parse_interfaces(text)
    assert raised.value.field == "interfaces"
    assert where in raised.value.message


@pytest.mark.parametrize(("text", "spec"), [
    ("7", SubnetSpec("id", "7")),
    ("10.0.0.0/24", SubnetSpec("cidr", "10.0.0.0/24")),
    ("cidr:10.0.0.1/24", SubnetSpec("cidr", "10.0.0.0/24")),
    ("space:dmz", SubnetSpec("space", "dmz")),
    ("vid:42", SubnetSpec("vid", "42")),
    ("ip:10.0.0.9", SubnetSpec("ip", "10.0.0.9")),
    ("pxe", SubnetSpec("name", "pxe")),
])
def test_subnet_specifiers(text, spec):
    assert parse_constraints({"subnets": [text]}).subnets == (spec,)


@pytest.mark.parametrize("text", ["colour:red", "ip:not-an-ip", "vid:x", "id:"])
def test_bad_subnet_specifiers(text):
    with pytest.raises(ConstraintError) as raised:
        parse_constraints({"not_subnets": [text]})
    assert raised.value.field == "not_subnets"


# Property tests: the grammar round-trips, and no string makes it raise anything else.
names = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=12)
sizes = st.floats(min_value=0.5, max_value=1e5, allow_nan=False).map(lambda f: round(f, 3))
subnet_specs = st.one_of(
    st.integers(0, 10**6).map(lambda i: SubnetSpec("id", str(i))),
    names.map(lambda n: SubnetSpec("name", n)),
    names.map(lambda n: SubnetSpec("space", n)),
    st.integers(0, 4094).map(lambda v: SubnetSpec("vid", str(v))),
    st.tuples(st.integers(0, 255), st.integers(8, 30)).map(
        lambda p: SubnetSpec("cidr", f"10.{p[0]}.0.0/{p[1]}" if p[1] >= 16 else f"10.0.0.0/{p[1]}")
    ),
)
interface_conditions = st.one_of(
    st.tuples(st.sampled_from(["space", "not_space", "fabric", "name", "tag", "not_tag"]), names),
    st.tuples(st.just("mode"), st.sampled_from(["auto", "dhcp", "static", "link_up"])),
    st.tuples(st.just("link_speed"), st.integers(0, 100000).map(str)),
    st.tuples(st.sampled_from(["vid", "not_vid"]), st.integers(0, 4094).map(str)),
)


@st.composite
def storage(draw):
    labels = draw(st.lists(names, max_size=4, unique=True))
    return tuple(StorageSpec(label, draw(sizes), tuple(draw(st.lists(names, max_size=3))))
                 for label in labels)


@st.composite
def interfaces(draw):
    labels = draw(st.lists(names, max_size=3, unique=True))
    return tuple(
        InterfaceSpec(label, tuple(draw(st.lists(interface_conditions, min_size=1, max_size=4))))
        for label in labels
    )


constraints_strategy = st.builds(
    Constraints,
    name=st.none() | names,
    system_id=st.none() | names,
    arch=st.lists(st.sampled_from(["amd64", "arm64/generic"]), max_size=2).map(tuple),
    cpu_count=st.none() | st.integers(0, 512).map(float),
    mem=st.none() | sizes,
    tags=st.lists(names, max_size=3).map(tuple),
    not_tags=st.lists(names, max_size=3).map(tuple),
    zone=st.none() | names,
    not_in_zone=st.lists(names, max_size=3).map(tuple),
    pool=st.none() | names,
    not_in_pool=st.lists(names, max_size=2).map(tuple),
    subnets=st.lists(subnet_specs, max_size=3).map(tuple),
    not_subnets=st.lists(subnet_specs, max_size=3).map(tuple),
    fabrics=st.lists(names, max_size=2).map(tuple),
    not_fabrics=st.lists(names, max_size=2).map(tuple),
    storage=storage(),
    interfaces=interfaces(),
)


@settings(max_examples=300, deadline=None)
@given(constraints_strategy)
def test_round_trip(constraints):
    assert parse_constraints(render_constraints(constraints)) == constraints


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_storage_never_raises_anything_else(text):
    with contextlib.suppress(ConstraintError):
        parse_storage(text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=string.printable, max_size=60))
def test_interfaces_never_raise_anything_else(text):
    with contextlib.suppress(ConstraintError):
        parse_interfaces(text)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["cpu_count", "mem", "subnets", "not_subnets", "storage", "interfaces",
                     "tags", "zone", "dry_run", "arch", "bogus"]),
    st.lists(st.text(max_size=30), max_size=3),
))
def test_request_parsing_never_raises_anything_else(params):
    with contextlib.suppress(ConstraintError):
        parse_allocation(params)
