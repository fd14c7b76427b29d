module taskman-mcp

go 1.26
