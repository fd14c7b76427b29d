package main

// Tests of the deployment files in deploy/: the Prometheus alerting rules
// are valid and behave as their comments say (promtool), and every metric
// that the rules and the Grafana dashboard query is one the server really
// exports, so a renamed metric cannot leave a silent alert or an empty
// panel behind.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const (
	// deployAlertsFile holds the Prometheus alerting rules.
	deployAlertsFile = "deploy/alerts.yaml"

	// deployAlertsTestFile holds promtool unit tests of the rules.
	deployAlertsTestFile = "testdata/alerts.test.yaml"

	// deployDashboardFile is the Grafana dashboard.
	deployDashboardFile = "deploy/grafana-dashboard.json"
)

// deployMetricNameRE finds the project's metric names in PromQL and prose:
// the taskman_ families, the OpenTelemetry MCP convention's mcp_server_
// ones and the standard process_ and go_ ones. The word boundary keeps it
// from matching inside a longer identifier.
var deployMetricNameRE = regexp.MustCompile(`\b(?:taskman|mcp_server|process|go)_[A-Za-z0-9_]*[A-Za-z0-9]`)

// deployDashboardVarRE matches a Grafana variable reference in a query.
var deployDashboardVarRE = regexp.MustCompile(`\$\{?\w+\}?`)

// requireOrSkip ends a test whose outside requirement (an install, a
// tool, root) is missing: a failure when the run requires every outside
// check, as CI's .ci/run does (TASKMAN_CI_REQUIRE=1 or TASKMAN_E2E=require,
// the older name the Node checks read), else a skip with the message. It is
// the one way an outside check skips, so a missing tool cannot turn a
// check into a silent skip in CI.
func requireOrSkip(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if why := outsideChecksRequired(); why != "" {
		t.Fatalf("%s (required: %s)", msg, why)
	}
	t.Skip(msg)
}

// outsideChecksRequired returns the setting that makes every outside check
// required ("TASKMAN_CI_REQUIRE=1" or "TASKMAN_E2E=require"), or "".
func outsideChecksRequired() string {
	switch {
	case os.Getenv("TASKMAN_CI_REQUIRE") == "1":
		return "TASKMAN_CI_REQUIRE=1"
	case os.Getenv("TASKMAN_E2E") == "require":
		return "TASKMAN_E2E=require"
	}
	return ""
}

// deployPromtool returns the path of promtool, or ends the test through
// requireOrSkip.
func deployPromtool(t *testing.T) string {
	t.Helper()
	return mxRequireBinary(t, "promtool")
}

// deployRun runs a command and fails the test, with its output, if it does
// not succeed.
func deployRun(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
}

// TestAlertRules checks the alerting rules with promtool, then runs their
// unit tests (which alerts fire, when, with which labels and text).
func TestAlertRules(t *testing.T) {
	promtool := deployPromtool(t)
	deployRun(t, promtool, "check", "rules", deployAlertsFile)
	deployRun(t, promtool, "test", "rules", deployAlertsTestFile)
}

// deployFamilies scrapes a real metric set and returns the type of every
// family in it, from its "# TYPE" line.
func deployFamilies(t *testing.T) map[string]string {
	t.Helper()
	m := newMetrics(metricsOptions{
		Enabled:   true,
		Version:   "test",
		Tools:     []string{"task_read"},
		Routes:    []string{"/mcp"},
		Endpoints: []string{"/tasks/{id}"},
		Breakers:  []string{"GET /tasks/{id}"},
	})
	var buf bytes.Buffer
	if err := m.writeTo(&buf); err != nil {
		t.Fatalf("writeTo: %v", err)
	}
	families := make(map[string]string)
	for line := range strings.Lines(buf.String()) {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if name, typ, ok := strings.Cut(strings.TrimSpace(rest), " "); ok {
				families[name] = typ
			}
		}
	}
	if len(families) == 0 {
		t.Fatalf("the scrape has no # TYPE lines:\n%s", buf.Bytes())
	}
	return families
}

// deployUnknownMetrics returns the metric names in text that are not
// families of the scrape, sorted. A histogram is queried through its
// _bucket, _sum and _count series and a summary through _sum and _count,
// so those suffixes are accepted on a family of the right type. The
// process_ families exist only on Linux (they read /proc), so elsewhere
// they are not checked.
func deployUnknownMetrics(families map[string]string, names []string) []string {
	var unknown []string
	for _, name := range names {
		if _, ok := families[name]; ok {
			continue
		}
		if strings.HasPrefix(name, "process_") && runtime.GOOS != "linux" {
			continue
		}
		if base, ok := strings.CutSuffix(name, "_bucket"); ok && families[base] == promTypeHistogram {
			continue
		}
		base, ok := strings.CutSuffix(name, "_sum")
		if !ok {
			base, ok = strings.CutSuffix(name, "_count")
		}
		if ok && (families[base] == promTypeHistogram || families[base] == promTypeSummary) {
			continue
		}
		unknown = append(unknown, name)
	}
	slices.Sort(unknown)
	return slices.Compact(unknown)
}

// deployPanel is the part of a Grafana panel these tests read; a collapsed
// row nests its panels.
type deployPanel struct {
	Title   string        `json:"title"`
	Panels  []deployPanel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// deployDashboardExprs returns every PromQL query of the dashboard: panel
// targets (rows included) and query variables, each keyed by where it is.
func deployDashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(deployDashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels     []deployPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("parse %s: %v", deployDashboardFile, err)
	}
	exprs := make(map[string]string)
	var walk func(panels []deployPanel)
	walk = func(panels []deployPanel) {
		for _, p := range panels {
			for i, tg := range p.Targets {
				if tg.Expr != "" {
					exprs[fmt.Sprintf("panel %q target %d", p.Title, i)] = tg.Expr
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		// Grafana stores a variable's query as a string (older) or as
		// {"query": "..."} (newer).
		var s string
		if json.Unmarshal(v.Query, &s) != nil {
			var q struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Fatalf("variable %q: query is neither a string nor an object: %s", v.Name, v.Query)
			}
			s = q.Query
		}
		exprs[fmt.Sprintf("variable %q", v.Name)] = s
	}
	if len(exprs) == 0 {
		t.Fatalf("%s has no queries", deployDashboardFile)
	}
	return exprs
}

// TestDashboardMetricsExist fails when a dashboard query names a metric
// that a real scrape of the server does not have.
func TestDashboardMetricsExist(t *testing.T) {
	families := deployFamilies(t)
	for where, expr := range deployDashboardExprs(t) {
		names := deployMetricNameRE.FindAllString(expr, -1)
		if len(names) == 0 && !strings.HasPrefix(where, "variable") {
			t.Errorf("%s: no taskman_, mcp_server_, process_ or go_ metric in %q", where, expr)
		}
		if unknown := deployUnknownMetrics(families, names); len(unknown) > 0 {
			t.Errorf("%s queries metrics the server does not export: %s\n\texpr: %s", where, strings.Join(unknown, ", "), expr)
		}
	}
}

// TestDashboardCoversTaskmanMetrics fails when a taskman_ or mcp_server_
// family has no panel, so a metric added to metrics.go gets charted in the
// same change.
func TestDashboardCoversTaskmanMetrics(t *testing.T) {
	used := make(map[string]bool)
	for _, expr := range deployDashboardExprs(t) {
		for _, name := range deployMetricNameRE.FindAllString(expr, -1) {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				name = strings.TrimSuffix(name, suffix)
			}
			used[name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(deployFamilies(t))) {
		if (strings.HasPrefix(name, "taskman_") || strings.HasPrefix(name, "mcp_server_")) && !used[name] {
			t.Errorf("%s has no panel in %s", name, deployDashboardFile)
		}
	}
}

// TestDashboardQueriesParse checks that every dashboard query is valid
// PromQL, by handing them to promtool as recording rules with the Grafana
// variables replaced by representative values.
func TestDashboardQueriesParse(t *testing.T) {
	promtool := deployPromtool(t)
	exprs := deployDashboardExprs(t)
	vars := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")
	type rule struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	var rules []rule
	var index strings.Builder // record name → panel, for the failure message
	for _, where := range slices.Sorted(maps.Keys(exprs)) {
		if strings.HasPrefix(where, "variable") {
			continue // label_values(...) is Grafana's syntax, not PromQL
		}
		expr := vars.Replace(exprs[where])
		if v := deployDashboardVarRE.FindString(expr); v != "" {
			t.Errorf("%s uses %s, which this test does not know how to replace: add it to the replacer", where, v)
			continue
		}
		record := fmt.Sprintf("dashboard:query_%d", len(rules))
		fmt.Fprintf(&index, "\t%s: %s\n", record, where)
		rules = append(rules, rule{Record: record, Expr: expr})
	}
	// JSON is YAML, so promtool reads this file as a rules file.
	data, err := json.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s\nrules:\n%s", err, out, index.String())
	}
}

// TestAlertMetricsExist fails when the alerting rules (expressions or the
// runbook text) name a metric the server does not export.
func TestAlertMetricsExist(t *testing.T) {
	data, err := os.ReadFile(deployAlertsFile)
	if err != nil {
		t.Fatal(err)
	}
	names := deployMetricNameRE.FindAllString(string(data), -1)
	if len(names) == 0 {
		t.Fatalf("%s names no taskman_ metric", deployAlertsFile)
	}
	if unknown := deployUnknownMetrics(deployFamilies(t), names); len(unknown) > 0 {
		t.Errorf("%s uses metrics the server does not export: %s", deployAlertsFile, strings.Join(unknown, ", "))
	}
}

// TestDeployUnknownMetrics checks the suffix rules of deployUnknownMetrics
// on a fixed family set.
func TestDeployUnknownMetrics(t *testing.T) {
	families := map[string]string{
		"taskman_a_total":   promTypeCounter,
		"taskman_h_seconds": promTypeHistogram,
		"taskman_s_seconds": promTypeSummary,
	}
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"family", []string{"taskman_a_total"}, nil},
		{"histogram series", []string{"taskman_h_seconds_bucket", "taskman_h_seconds_sum", "taskman_h_seconds_count"}, nil},
		{"summary series", []string{"taskman_s_seconds_sum", "taskman_s_seconds_count", "taskman_s_seconds"}, nil},
		{"summary has no buckets", []string{"taskman_s_seconds_bucket"}, []string{"taskman_s_seconds_bucket"}},
		{"counter has no count", []string{"taskman_a_total_count"}, []string{"taskman_a_total_count"}},
		{"unknown, reported once", []string{"taskman_b", "taskman_b"}, []string{"taskman_b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := deployUnknownMetrics(families, tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("deployUnknownMetrics(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// deployKubernetesFile is the Kubernetes manifest.
const deployKubernetesFile = "deploy/kubernetes.yaml"

// deployManifestInt returns the integer that re's first group captures in
// text, failing the test when it is not there.
func deployManifestInt(t *testing.T, text string, re *regexp.Regexp) int {
	t.Helper()
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("%s: no match for %s", deployKubernetesFile, re)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatalf("%s: %s: %v", deployKubernetesFile, re, err)
	}
	return n
}

// TestKubernetesShutdownBudget checks the arithmetic the manifest's
// comments promise: the kubelet waits longer than the preStop pause plus
// the server's drain deadline before it sends SIGKILL, and the pod runs as
// the image's user.
func TestKubernetesShutdownBudget(t *testing.T) {
	data, err := os.ReadFile(deployKubernetesFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	grace := deployManifestInt(t, text, regexp.MustCompile(`terminationGracePeriodSeconds: (\d+)`))
	drainMS := deployManifestInt(t, text, regexp.MustCompile(`name: GRACEFUL_SHUTDOWN_TIMEOUT_MS\s+value: "(\d+)"`))
	preStop := deployManifestInt(t, text, regexp.MustCompile(`sleep:\s+seconds: (\d+)`))
	if need := preStop + (drainMS+999)/1000; grace <= need {
		t.Errorf("terminationGracePeriodSeconds = %d, want more than preStop %d s + GRACEFUL_SHUTDOWN_TIMEOUT_MS %d ms", grace, preStop, drainMS)
	}

	dockerfile, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	user := regexp.MustCompile(`(?m)^USER (\d+):(\d+)$`).FindStringSubmatch(string(dockerfile))
	if user == nil {
		t.Fatal("Dockerfile: no numeric USER uid:gid")
	}
	for _, re := range []*regexp.Regexp{regexp.MustCompile(`runAsUser: (\d+)`), regexp.MustCompile(`runAsGroup: (\d+)`)} {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			if m[1] != user[1] {
				t.Errorf("%s: %s, want %s as the Dockerfile's USER", deployKubernetesFile, m[0], user[1])
			}
		}
	}
}

// deployBackendFailureRE finds the status matcher of the backend error
// rate alert.
var deployBackendFailureRE = regexp.MustCompile(`taskman_backend_api_calls_total\{status=~"([^"]+)"\}`)

// TestAlertMatchesBackendFailures checks that TaskmanBackendErrorRate
// counts every value of the backend status label that the circuit breaker
// counts as a failure (5xx, 429 and each transport outcome but the
// caller's own cancellation) and no other, so a status added to the metric
// cannot leave the alert blind to it, as connection_refused once did.
func TestAlertMatchesBackendFailures(t *testing.T) {
	data, err := os.ReadFile(deployAlertsFile)
	if err != nil {
		t.Fatal(err)
	}
	m := deployBackendFailureRE.FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s: no taskman_backend_api_calls_total{status=~...} matcher", deployAlertsFile)
	}
	re, err := regexp.Compile(`^(?:` + string(m[1]) + `)$`) // PromQL regexps are anchored RE2
	if err != nil {
		t.Fatalf("%s: status matcher %q: %v", deployAlertsFile, m[1], err)
	}
	for _, status := range promBackendOutcomes {
		failure := status != "canceled"
		if code, err := strconv.Atoi(status); err == nil {
			failure = code >= 500 || code == http.StatusTooManyRequests
		}
		if got := re.MatchString(status); got != failure {
			t.Errorf("TaskmanBackendErrorRate matches status=%q: %v, want %v", status, got, failure)
		}
	}
}

// Patterns of TestScrapeJobAgrees.
var (
	deployServiceNameRE = regexp.MustCompile(`(?m)^kind: Service\nmetadata:\n  name: ([\w.-]+)`)
	deployJobMatcherRE  = regexp.MustCompile(`job\s*(=~|!=|!~|=)\s*\\?"([^"\\]*)\\?"`)
	deployJobNameRE     = regexp.MustCompile(`job_name:\s*(\S+)`)
)

// TestScrapeJobAgrees checks that the manifests have one scrape path and
// that the alerts, their unit tests, the dashboard and the README all
// select the job it produces: the ServiceMonitor names the job after the
// Service, and a pod-annotation scrape beside it would add a second job
// (and, before this test, left TaskmanAllInstancesDown firing for ever).
func TestScrapeJobAgrees(t *testing.T) {
	read := func(path string) string {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	manifest := read(deployKubernetesFile)
	if strings.Contains(manifest, "prometheus.io/scrape") {
		t.Errorf("%s has prometheus.io/scrape annotations beside deploy/servicemonitor.yaml: two scrape paths, two job names", deployKubernetesFile)
	}
	monitor := read("deploy/servicemonitor.yaml")
	if strings.Contains(monitor, "jobLabel:") {
		t.Errorf("deploy/servicemonitor.yaml sets jobLabel: the job is no longer the Service's name")
	}
	if !strings.Contains(monitor, "app.kubernetes.io/name: taskman-mcp") {
		t.Errorf("deploy/servicemonitor.yaml does not select app.kubernetes.io/name: taskman-mcp, the Service's label")
	}
	svc := deployServiceNameRE.FindStringSubmatch(manifest)
	if svc == nil {
		t.Fatalf("%s: no Service", deployKubernetesFile)
	}
	job := svc[1]

	for _, path := range []string{deployAlertsFile, deployAlertsTestFile, deployDashboardFile, "README.md"} {
		text := read(path)
		for _, m := range deployJobMatcherRE.FindAllStringSubmatch(text, -1) {
			if m[1] != "=" || m[2] != job {
				t.Errorf("%s selects job%s%q, want job=%q (the Service deploy/servicemonitor.yaml scrapes)", path, m[1], m[2], job)
			}
		}
		for _, m := range deployJobNameRE.FindAllStringSubmatch(text, -1) {
			if m[1] != job {
				t.Errorf("%s: job_name %s, want %s", path, m[1], job)
			}
		}
	}
	if n := strings.Count(read(deployAlertsFile), `up{job="`+job+`"}`); n < 2 {
		t.Errorf("%s: %d up{job=%q} selectors, want both instance-down alerts to use one", deployAlertsFile, n, job)
	}
	for where, expr := range deployDashboardExprs(t) {
		if !strings.Contains(expr, `job="`+job+`"`) {
			t.Errorf("dashboard %s does not select job=%q: %s", where, job, expr)
		}
	}
}

// TestDockerfileBuildImagePinned checks that the Dockerfile's build image is
// pinned by digest (a tag moves with every point release) and that its Go
// release satisfies the go directive of go.mod.
func TestDockerfileBuildImagePinned(t *testing.T) {
	dockerfile, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ARG GO_IMAGE=golang:(\d+)\.(\d+)\.(\d+)@sha256:[0-9a-f]{64}$`).FindSubmatch(dockerfile)
	if m == nil {
		t.Fatal("Dockerfile: no ARG GO_IMAGE=golang:X.Y.Z@sha256:<64 hex digits>")
	}
	if !regexp.MustCompile(`(?m)^FROM --platform=\$BUILDPLATFORM \$\{GO_IMAGE\} AS build$`).Match(dockerfile) {
		t.Error("Dockerfile: the build stage does not use ${GO_IMAGE}")
	}
	gomod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	g := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)(?:\.(\d+))?$`).FindSubmatch(gomod)
	if g == nil {
		t.Fatal("go.mod: no go directive")
	}
	num := func(b []byte) int { n, _ := strconv.Atoi(string(b)); return n }
	image := []int{num(m[1]), num(m[2]), num(m[3])}
	need := []int{num(g[1]), num(g[2]), num(g[3])}
	if slices.Compare(image, need) < 0 {
		t.Errorf("Dockerfile builds with Go %v, older than go.mod's go %v", image, need)
	}
}
