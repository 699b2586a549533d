"""Meeting audio recorded on the box, compressed with Opus."""
