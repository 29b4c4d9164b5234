"""What tito keeps on disk between commands: the progress file, backups of module files, and the
atomic writes every room uses to change a file."""
