"""Everything that turns video into searchable shots and answers queries."""
