package main

// The repository documents itself: every comment and document that cites
// a document names one in the repository (docs/*.md, README.md, …), none
// points at a design tree outside it or at a path of somebody's machine,
// and none states a tool count that goes stale when a tool is added.

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// docsOutsideRE matches what points outside the repository: the
	// design tree it was written from (the parent directory's "shared"
	// folder) and absolute home or work directories of a machine.
	docsOutsideRE = regexp.MustCompile(`\.\./shared\b|\bshared/(?:design|spec|reference)\b|(?:^|[\s"'(=:])/(?:work|home|Users)/|[A-Za-z]:\\Users\\`)

	// docsURLRE matches a URL, whose .md files live on other sites.
	docsURLRE = regexp.MustCompile(`[a-z][a-z0-9+.-]*://[^\s"'<>)\]]+`)

	// docsMarkdownRE matches a cited Markdown file: a path-like word
	// ending in .md.
	docsMarkdownRE = regexp.MustCompile(`[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md\b`)

	// docsToolCountRE matches a number of tools stated in prose; the tool
	// table is the count, and tools are added.
	// (not "2026-07-28 tools/call").
	docsToolCountRE = regexp.MustCompile(`\b\d+ (?:tools|tool names)(?:$|[^/\w])`)
)

// docsSkipDirs are directories whose files are not the project's own
// prose: version control, installed Node tooling, binaries and fuzz
// corpora.
var docsSkipDirs = map[string]bool{".git": true, "node_modules": true, ".node22": true, "bin": true, "fuzz": true}

// docsSkipFiles are generated files with no prose of ours, and this file,
// whose test table holds the very references it rejects.
var docsSkipFiles = map[string]bool{"go.sum": true, "package-lock.json": true, "docs_test.go": true}

// docsProse reports whether a file of that name holds the project's prose
// or comments: sources, documents, manifests and scripts, not a local .env
// or a data file someone left in the tree.
func docsProse(name string) bool {
	switch name {
	case "Dockerfile", "run", ".gitignore", ".dockerignore", ".env.example":
		return true
	}
	switch filepath.Ext(name) {
	case ".go", ".md", ".yaml", ".yml", ".json", ".sh", ".mjs", ".txt", ".golden":
		return true
	}
	return false
}

// docsRepoFiles returns the repository's text files (relative paths) and
// their contents.
func docsRepoFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files := make(map[string][]byte)
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && docsSkipDirs[d.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || docsSkipFiles[d.Name()] || !docsProse(d.Name()) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.IndexByte(data, 0) >= 0 {
			return nil // a binary, such as a built taskman-mcp
		}
		files[filepath.ToSlash(path)] = data
		return nil
	})
	if err != nil {
		t.Fatalf("walk the repository: %v", err)
	}
	if files["README.md"] == nil || files["docs/observability.md"] == nil {
		t.Fatalf("walked %d files without README.md and docs/observability.md: not run from the repository root?", len(files))
	}
	return files
}

// docsProblems returns what is wrong with the text of the file at path
// (repository-relative) given the repository's files: references outside
// the repository, cited Markdown files that do not exist, tool counts.
func docsProblems(path string, text string, exists func(string) bool) []string {
	var problems []string
	for i, line := range strings.Split(text, "\n") {
		at := func(format string, what string) {
			problems = append(problems, fmt.Sprintf("%s:%d: "+format, path, i+1, what))
		}
		if m := docsOutsideRE.FindString(line); m != "" {
			at("points outside the repository (%s): cite docs/ or say what is needed here", strings.TrimSpace(m))
		}
		if m := docsToolCountRE.FindString(line); m != "" {
			at("states a tool count (%s) that goes stale when a tool is added", m)
		}
		for _, ref := range docsMarkdownRE.FindAllString(docsURLRE.ReplaceAllString(line, ""), -1) {
			if strings.HasPrefix(ref, "/") {
				continue // an absolute path is no citation (docsOutsideRE judges it), e.g. a report written to /tmp
			}
			ref = strings.TrimPrefix(ref, "./")
			local := filepath.ToSlash(filepath.Join(filepath.Dir(path), ref))
			if !exists(local) && !exists(ref) {
				at("cites %s, which is not in the repository (docs/ holds the contracts)", ref)
			}
		}
	}
	return problems
}

// TestRepositoryIsSelfContained fails on any comment or document that
// points outside the repository, cites a document it does not have, or
// states a stale-prone tool count.
func TestRepositoryIsSelfContained(t *testing.T) {
	files := docsRepoFiles(t)
	exists := func(p string) bool { _, ok := files[p]; return ok }
	for path, data := range files {
		for _, p := range docsProblems(path, string(data), exists) {
			t.Error(p)
		}
	}
}

// TestDocsProblems checks the rules of TestRepositoryIsSelfContained on
// fixed lines, so the test above is known to catch what it is for.
func TestDocsProblems(t *testing.T) {
	exists := func(p string) bool { return p == "docs/config.md" || p == "README.md" }
	tests := []struct {
		name, path, text string
		want             int
	}{
		{"docs citation", "config.go", "// see docs/config.md", 0},
		{"relative citation inside docs", "docs/mcp.md", "as config.md says", 0},
		{"root citation", "docs/mcp.md", "see README.md", 0},
		{"bare design document", "config.go", "// config.md's table", 1},
		{"design tree", "health.go", "// (design/observability.md \"Health\")", 1},
		{"parent shared folder", "x.go", "// see ../" + "shared/spec/2025-11-25", 1},
		{"shared design", "x.go", "// from shared/" + "design notes", 1},
		{"machine path", "config.go", "// read from /wo" + "rk/shared/" + "design/config.md", 1},
		{"output file", "BENCHMARKS.md", "TASKMAN_LOAD_OUT=/tmp/load.md go test", 0},
		{"home directory", "x.sh", `cd "/home/dev/taskman"`, 1},
		{"macOS home", "README.md", "open /Users/me/taskman", 1},
		{"Windows home", "README.md", `C:\Users\me\taskman`, 1},
		{"URL to a .md elsewhere", "Dockerfile", "# https://github.com/opencontainers/image-spec/blob/main/annotations.md", 0},
		{"API path is not a machine path", "README.md", "GET /api/v1/tasks", 0},
		{"tool count", "mcp.go", "// the whole catalog (39 tools)", 1},
		{"tool names count", "README.md", "the same 39 tool names", 1},
		{"a version before tools/call", "replicas_test.go", "// sends a 2026-07-28 tools/call", 0},
		{"format verb is not a count", "tools_test.go", `t.Errorf("the table has %d tools")`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := docsProblems(tt.path, tt.text, exists)
			if len(got) != tt.want {
				t.Errorf("docsProblems(%q, %q) = %q, want %d problem(s)", tt.path, tt.text, got, tt.want)
			}
		})
	}
}

// TestConfigDocsListEveryVariable fails when a variable of configVars (or
// its alias) is missing from docs/config.md, the configuration reference.
func TestConfigDocsListEveryVariable(t *testing.T) {
	doc, err := os.ReadFile("docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range configVars {
		for _, name := range []string{v.name, v.alias} {
			if name != "" && !regexp.MustCompile(`\b`+name+`\b`).Match(doc) {
				t.Errorf("docs/config.md does not mention %s", name)
			}
		}
	}
}
