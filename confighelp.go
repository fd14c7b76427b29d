package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
)

// writeTo writes every setting as NAME=value, one per line in the order of
// docs/config.md's table, with the effective value (defaults applied, TASKMAN_DEBUG
// folded into LOG_LEVEL, OTEL_SDK_DISABLED into TRACING_ENABLED) and secrets
// as [redacted]. The output is a valid .env file; an unset list
// (TASKMAN_ALLOWED_HOSTS) prints empty, meaning the built-in default.
func (c *config) writeTo(w io.Writer) error {
	var b strings.Builder
	for _, v := range configVars {
		b.WriteString(v.name + "=" + configQuote(v.value(c)) + "\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// LogValue implements slog.LogValuer: the same NAME=value pairs as
// writeTo, as one group, secrets redacted.
func (c *config) LogValue() slog.Value {
	attrs := make([]slog.Attr, len(configVars))
	for i, v := range configVars {
		attrs[i] = slog.String(v.name, v.value(c))
	}
	return slog.GroupValue(attrs...)
}

// writeConfigHelp writes the --help text: usage, what taskman-mcp is, and
// the table of environment variables.
func writeConfigHelp(w io.Writer, name string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s [--help] [--version] [--print-config]\n\n", name)
	b.WriteString(`taskman-mcp is a Model Context Protocol (MCP) server that gives AI clients
tools to manage tasks, projects and sprints in a Task Manager API. It speaks
MCP over stdio (the default) or Streamable HTTP, and runs an embedded
in-memory backend unless TASK_MANAGER_API_ENDPOINT names a remote one. It is
configured only by environment variables; a .env file in the working
directory is read too, and the environment wins. --print-config shows the
effective settings with secrets redacted; a configuration problem exits with
status 2.

`)
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	for _, v := range configVars {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.name, v.helpDefault(), v.helpText())
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write help: %w", err)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write help: %w", err)
	}
	return nil
}

// writeConfigEnvExample writes .env.example: every variable, grouped, with
// its explanation above it and its default commented out. The checked-in
// file is compared to this output by a test.
func writeConfigEnvExample(w io.Writer) error {
	var b strings.Builder
	b.WriteString(`# taskman-mcp configuration. Copy to .env in the working directory and
# uncomment what you change; variables set in the environment win over .env.
# Values may be quoted ('single' or "double", with \n \" \\ in double quotes).
# Generated from configVars in config.go: change the table, not this file.
`)
	group := ""
	for _, v := range configVars {
		if v.group != group {
			group = v.group
			fmt.Fprintf(&b, "\n## %s\n", group)
		}
		fmt.Fprintf(&b, "\n# %s", v.helpText())
		if v.defText != "" {
			fmt.Fprintf(&b, "; default: %s", v.defText)
		}
		fmt.Fprintf(&b, "\n# %s=%s\n", v.name, configQuote(v.def))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write .env.example: %w", err)
	}
	return nil
}

// helpDefault is the default as --help shows it.
func (v configVar) helpDefault() string {
	switch {
	case v.defText != "":
		return v.defText
	case v.def == "":
		return "unset"
	}
	return v.def
}

// helpText is the one-line explanation, naming the alias if there is one.
func (v configVar) helpText() string {
	if v.alias != "" {
		return v.help + " (alias " + v.alias + ")"
	}
	return v.help
}
