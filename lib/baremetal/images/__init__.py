"""Boot images: building the ephemeral image from Debian packages."""
