package main

// TestDeps guards the binary's dependency graph, after tailscale's
// cmd/derper: every module in it must be listed, with a reason, in the
// checked-in deps.txt, so a new dependency shows up in review. See the
// header of deps.txt for the format and for why OpenTelemetry modules are
// listed one by one instead of being allowed by prefix.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const (
	// depsFile is the allow-list, relative to the package directory.
	depsFile = "deps.txt"

	// depsMainModule is the module path of this repository (go.mod).
	depsMainModule = "taskman-mcp"

	// depsModuleFile is the only non-test file allowed to import a module
	// outside the standard library (OpenTelemetry, for trace export only).
	depsModuleFile = "tracing.go"
)

// depsForbidden are packages that must not be linked into the binary: test
// helpers in a non-test file would ship the testing framework (and its
// flags) in production. A path ending in "/" forbids everything below it.
var depsForbidden = []string{"testing", "testing/", "net/http/httptest"}

// depsLineRE matches an allow-list entry: a module path, at least one
// space, "# " and a non-empty reason.
var depsLineRE = regexp.MustCompile(`^(\S+) +# (\S.*)$`)

// depsModuleRE matches a module path as `go list` prints one outside the
// standard library: a first element with a dot (a domain), then path
// elements.
var depsModuleRE = regexp.MustCompile(`^[a-z0-9-]+(\.[a-z0-9-]+)+(/[A-Za-z0-9._~+-]+)*$`)

// depsParse reads an allow-list and returns its modules and their reasons.
// It is strict, so that the file stays reviewable: every problem (bad
// line, bad module path, a duplicate, an entry out of order, trailing
// space) is reported with its line number, all at once. The main module
// has no dot in its path, so it is rejected as "not a module path".
func depsParse(name string, r io.Reader) (map[string]string, error) {
	allowed := make(map[string]string)
	var problems []error
	var prev string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		bad := func(format string, args ...any) {
			problems = append(problems, fmt.Errorf("%s:%d: "+format, append([]any{name, n}, args...)...))
		}
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.TrimRight(line, " \t") != line:
			bad("trailing white space")
			continue
		}
		m := depsLineRE.FindStringSubmatch(line)
		if m == nil {
			bad("want %q, got %q", "module/path  # why it is there", line)
			continue
		}
		mod := m[1]
		switch {
		case !depsModuleRE.MatchString(mod):
			bad("%q is not a module path", mod)
		case allowed[mod] != "":
			bad("%q is listed twice", mod)
		case mod < prev:
			bad("%q is out of order: keep the list sorted (it follows %q)", mod, prev)
		}
		allowed[mod] = m[2]
		prev = max(prev, mod)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return allowed, nil
}

// depsGoList runs `go list` in the package directory with args and returns
// its output lines, without blanks and duplicates, sorted.
func depsGoList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	var lines []string
	for l := range strings.Lines(string(out)) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return slices.Compact(lines)
}

// TestDeps fails when the binary (the main package, not its tests) depends
// on a module missing from deps.txt, when deps.txt lists a module the
// binary no longer uses, or when a forbidden package is linked in.
func TestDeps(t *testing.T) {
	f, err := os.Open(depsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	allowed, err := depsParse(depsFile, f)
	if err != nil {
		t.Fatalf("%s is malformed:\n%v", depsFile, err)
	}

	// -deps without -test lists what the binary links: test-only imports
	// do not count.
	used := make(map[string]bool)
	for _, mod := range depsGoList(t, "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", ".") {
		used[mod] = true
		if mod != depsMainModule && allowed[mod] == "" {
			t.Errorf("module %s is a new dependency of the binary: remove it, or add it to %s with the reason (`go mod why -m %s` shows who brings it)", mod, depsFile, mod)
		}
	}
	for _, mod := range slices.Sorted(maps.Keys(allowed)) {
		if !used[mod] {
			t.Errorf("%s lists %s, which the binary no longer uses: remove the line", depsFile, mod)
		}
	}

	for _, pkg := range depsGoList(t, "-deps", ".") {
		for _, bad := range depsForbidden {
			if pkg == bad || strings.HasSuffix(bad, "/") && strings.HasPrefix(pkg, bad) {
				t.Errorf("package %s is linked into the binary: a non-test file imports it, directly or not (`go list -deps -f '{{.ImportPath}}: {{.Imports}}' .` shows which)", pkg)
			}
		}
	}
}

// depsSpanAPI are the OpenTelemetry API packages that the files making
// spans (the transports, the dispatcher, the backend client) may import:
// the trace API and its attribute and status types, nothing that exports.
var depsSpanAPI = []string{
	"go.opentelemetry.io/otel/attribute",
	"go.opentelemetry.io/otel/codes",
	"go.opentelemetry.io/otel/trace",
}

// TestDepsOnlyTracingImportsModules fails when a non-test file other than
// tracing.go imports a package outside the standard library, beyond the
// span API of depsSpanAPI: the SDK, the exporter and their modules stay in
// tracing.go, and the rest of the program stays standard-library only.
func TestDepsOnlyTracingImportsModules(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || name == depsModuleFile {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatalf("%s: import %s: %v", fset.Position(imp.Pos()), imp.Path.Value, err)
			}
			// The standard library's first path element has no dot.
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") && !slices.Contains(depsSpanAPI, path) {
				t.Errorf("%s: imports %s; only %s may import packages outside the standard library", fset.Position(imp.Pos()), path, depsModuleFile)
			}
		}
	}
}

// TestDepsParse checks that the allow-list parser accepts the documented
// format and rejects each kind of mistake with the line that has it.
func TestDepsParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string // substring of the error; "" means no error
	}{
		{
			name: "entries comments and blank lines",
			in:   "# header\n\ngithub.com/a/b  # why a\ngo.opentelemetry.io/otel # why otel\n",
			want: map[string]string{"github.com/a/b": "why a", "go.opentelemetry.io/otel": "why otel"},
		},
		{name: "empty file", in: "", want: map[string]string{}},
		{name: "no reason", in: "github.com/a/b\n", wantErr: "deps.txt:1: want"},
		{name: "empty reason", in: "github.com/a/b  #\n", wantErr: "deps.txt:1: want"},
		{name: "reason without hash", in: "github.com/a/b  because\n", wantErr: "deps.txt:1: want"},
		{name: "indented", in: "  github.com/a/b  # why\n", wantErr: "deps.txt:1: want"},
		{name: "trailing space", in: "github.com/a/b  # why \n", wantErr: "deps.txt:1: trailing white space"},
		{name: "standard library path", in: "net/http  # why\n", wantErr: `deps.txt:1: "net/http" is not a module path`},
		{name: "main module", in: "taskman-mcp  # why\n", wantErr: "is not a module path"},
		{name: "duplicate", in: "github.com/a/b  # one\ngithub.com/a/b  # two\n", wantErr: `deps.txt:2: "github.com/a/b" is listed twice`},
		{name: "unsorted", in: "golang.org/x/sys  # why\ngithub.com/a/b  # why\n", wantErr: `deps.txt:2: "github.com/a/b" is out of order`},
		{name: "every problem reported", in: "x\ny\n", wantErr: "deps.txt:2: want"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := depsParse("deps.txt", strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("depsParse(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("depsParse(%q) error = %v, want nil", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("depsParse(%q) = %v, want %v", tt.in, got, tt.want)
			}
			for mod, why := range tt.want {
				if got[mod] != why {
					t.Errorf("depsParse(%q)[%q] = %q, want %q", tt.in, mod, got[mod], why)
				}
			}
		})
	}
}
