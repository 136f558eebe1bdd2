"""The fronts of shotseek: the command line and (later) the MCP server. No pipeline logic here."""
