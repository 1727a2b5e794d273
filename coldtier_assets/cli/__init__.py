"""The `coldtier` command line: commands, console and error printing, rendering."""
