"""What booted machines run and report: the scripts the metadata API serves (rendered per
machine and purpose) and the parsing of what they report into the machine's record."""
