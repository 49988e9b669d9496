# Install rules and packaging (see docs/install.md).
