package main

// The official MCP conformance suite (npm @modelcontextprotocol/conformance)
// against the server over Streamable HTTP: the legacy release for the
// 2025-xx versions and the 2026-07-28 release for the stateless era, both
// installed into e2e/conformance by e2e/install.sh. Like the other e2e
// tests, they skip without that install unless the run requires it
// (requireOrSkip).

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// conformanceScenario is one scenario of the suite that applies to this
// server: it exercises only what the server implements (tools, logging,
// the lifecycle, the transports), not the suite's fixture tools, prompts
// or resources.
type conformanceScenario struct {
	suite       string // the npm alias in e2e/conformance: conformance-legacy or conformance-modern
	name        string
	specVersion string // --spec-version; "" for the release's default
	// notApplicable are the checks that cannot pass against a real server,
	// by check id, each with the reason; every other check must succeed
	// (or be skipped or informational, as the suite decides).
	notApplicable map[string]string
}

// conformanceFixtureOnly explains the server-stateless checks that need
// the suite's own test-only tools, which a production server does not
// list (issue 15: 21 of the 25 checks apply).
const conformanceFixtureOnly = "needs the suite's fixture tool "

// conformanceScenarios are the applicable scenarios of both releases.
var conformanceScenarios = []conformanceScenario{
	{suite: "conformance-legacy", name: "server-initialize"},
	{suite: "conformance-legacy", name: "ping"},
	{suite: "conformance-legacy", name: "logging-set-level"},
	{suite: "conformance-legacy", name: "tools-list"},
	{suite: "conformance-legacy", name: "dns-rebinding-protection"},
	{suite: "conformance-legacy", name: "server-sse-multiple-streams"},
	{suite: "conformance-modern", name: "server-stateless", specVersion: versionModern, notApplicable: map[string]string{
		"sep-2575-server-rejects-undeclared-capability":          conformanceFixtureOnly + "test_missing_capability",
		"sep-2575-missing-capability-http-400":                   conformanceFixtureOnly + "test_missing_capability",
		"sep-2575-http-server-no-independent-requests-on-stream": conformanceFixtureOnly + "test_streaming_elicitation",
		"sep-2575-server-no-log-without-loglevel":                conformanceFixtureOnly + "test_logging_tool",
	}},
	{suite: "conformance-modern", name: "tools-list", specVersion: versionModern},
	{suite: "conformance-modern", name: "http-header-validation", specVersion: versionModern},
	{suite: "conformance-modern", name: "dns-rebinding-protection", specVersion: versionModern},
	{suite: "conformance-modern", name: "server-sse-multiple-streams", specVersion: versionModern},
	{suite: "conformance-modern", name: "caching", specVersion: versionModern, notApplicable: map[string]string{
		"sep-2549-prompts-list-caching-hints":             "the server has no prompts",
		"sep-2549-resources-list-caching-hints":           "the server has no resources",
		"sep-2549-resources-templates-list-caching-hints": "the server has no resources",
	}},
}

// conformanceCheck is one entry of a scenario's checks.json.
type conformanceCheck struct {
	ID           string `json:"id"`
	Status       string `json:"status"` // SUCCESS, FAILURE, WARNING, SKIPPED, INFO
	ErrorMessage string `json:"errorMessage"`
}

func TestConformanceSuite(t *testing.T) {
	node := e2eRequireInstall(t)
	url := e2eStartHTTP(t, e2eBinary(t))
	for _, sc := range conformanceScenarios {
		t.Run(strings.TrimPrefix(sc.suite, "conformance-")+"/"+sc.name, func(t *testing.T) {
			checks := runConformance(t, node, url, sc)
			passed := 0
			for _, c := range checks {
				switch {
				case c.Status == "SUCCESS":
					passed++
				case c.Status == "SKIPPED" || c.Status == "INFO":
				case sc.notApplicable[c.ID] != "":
					t.Logf("%s %s (not applicable: %s)", c.ID, c.Status, sc.notApplicable[c.ID])
				default:
					t.Errorf("%s: %s: %s", c.ID, c.Status, c.ErrorMessage)
				}
			}
			if passed == 0 {
				t.Errorf("no check passed among %d: the scenario did not exercise the server", len(checks))
			}
			t.Logf("%d of %d checks passed", passed, len(checks))
		})
	}
}

// runConformance runs one scenario of the suite against url, bounded in
// time, and returns the checks it recorded.
func runConformance(t *testing.T, node, url string, sc conformanceScenario) []conformanceCheck {
	t.Helper()
	out := t.TempDir()
	args := []string{filepath.Join("conformance", "node_modules", sc.suite, "dist", "index.js"),
		"server", "--url", url, "--scenario", sc.name, "-o", out}
	if sc.specVersion != "" {
		args = append(args, "--spec-version", sc.specVersion)
	}
	ctx, cancel := context.WithTimeout(context.Background(), e2eScriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = e2eDir
	cmd.WaitDelay = e2eStopTimeout
	// The suite exits non-zero when a check fails; the checks say which.
	log, runErr := cmd.CombinedOutput()
	files, _ := filepath.Glob(filepath.Join(out, "*", "checks.json"))
	if len(files) != 1 {
		t.Fatalf("conformance %s: %d checks.json files (run: %v)\n%s", sc.name, len(files), runErr, log)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var checks []conformanceCheck
	if err := json.Unmarshal(b, &checks); err != nil {
		t.Fatalf("conformance %s: %s: %v", sc.name, files[0], err)
	}
	if t.Failed() || len(checks) == 0 {
		t.Logf("conformance %s output:\n%s", sc.name, log)
	}
	return checks
}
