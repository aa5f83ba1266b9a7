"""Pure storage rules: the layouts a machine's disks get and the partition plan the
installer carries out."""
