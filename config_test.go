package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// configTestEnv returns a getenv that answers from m.
func configTestEnv(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

// configTestLoad loads a config from m alone and fails the test on error.
func configTestLoad(t *testing.T, m map[string]string) *config {
	t.Helper()
	c, err := loadConfig(configTestEnv(m), "")
	if err != nil {
		t.Fatalf("loadConfig(%v) error:\n%v", m, err)
	}
	return c
}

// configTestProblems loads a config from m, which must fail, and returns
// the problem lines.
func configTestProblems(t *testing.T, m map[string]string, dotenv string) []string {
	t.Helper()
	c, err := loadConfig(configTestEnv(m), dotenv)
	var ce *configError
	if !errors.As(err, &ce) {
		t.Fatalf("loadConfig(%v) = %+v, %v; want a *configError", m, c, err)
	}
	if c != nil {
		t.Errorf("loadConfig(%v) returned a config with its error", m)
	}
	return ce.Problems()
}

// configTestDiff fails with every field where got and want differ.
func configTestDiff(t *testing.T, got, want *config) {
	t.Helper()
	gv, wv := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for i := range gv.NumField() {
		name := gv.Type().Field(i).Name
		g, w := gv.Field(i), wv.Field(i)
		if g.Kind() == reflect.Struct {
			for j := range g.NumField() {
				if !reflect.DeepEqual(g.Field(j).Interface(), w.Field(j).Interface()) {
					t.Errorf("%s.%s = %#v, want %#v", name, g.Type().Field(j).Name, g.Field(j).Interface(), w.Field(j).Interface())
				}
			}
			continue
		}
		if !g.CanInterface() { // unexported: compare through reflect
			if !reflect.DeepEqual(fmt.Sprint(g), fmt.Sprint(w)) {
				t.Errorf("%s = %v, want %v", name, g, w)
			}
			continue
		}
		if !reflect.DeepEqual(g.Interface(), w.Interface()) {
			t.Errorf("%s = %#v, want %#v", name, g.Interface(), w.Interface())
		}
	}
}

// configTestDefaults is the configuration of an empty environment.
func configTestDefaults() *config {
	return &config{
		Transport:          "stdio",
		Host:               "127.0.0.1",
		Port:               3000,
		Toolsets:           toolsetNames,
		SessionIdleTimeout: 30 * time.Minute,
		MaxSessions:        1000,
		MaxRequestBytes:    4 << 20,
		MaxInFlight:        32,
		Env:                "development",
		BackendDialect:     dialectAuto,
		DefaultOwner:       "taskman-mcp",
		BackendTimeout:     30 * time.Second,
		BackendMaxRetries:  3,
		BackendRetryDelay:  time.Second,
		LogLevel:           slog.LevelInfo,
		LogFormat:          "json",
		MetricsEnabled:     true,
		HealthEnabled:      true,
		ShutdownTimeout:    30 * time.Second,
		OTel: otelConfig{
			Endpoint:    "http://localhost:4318/v1/traces",
			ServiceName: "taskman-mcp",
			SampleRate:  1.0,
		},
		Breaker: breakerConfig{
			Enabled:         true,
			ErrorThreshold:  50,
			ResetTimeout:    30 * time.Second,
			VolumeThreshold: 10,
			Window:          10 * time.Second,
		},
		Cache: cacheConfig{Enabled: true, MaxSize: 1000, TTL: 5 * time.Minute},
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	c := configTestLoad(t, nil)
	configTestDiff(t, c, configTestDefaults())
	if !c.embedded() {
		t.Errorf("embedded() = false with no TASK_MANAGER_API_ENDPOINT, want true")
	}
}

// TestConfigTableDefaults checks that configVars' defaults, written out as
// an environment, give the same config as an empty one: the table that
// --help and .env.example show cannot drift from the code.
func TestConfigTableDefaults(t *testing.T) {
	env := map[string]string{}
	for _, v := range configVars {
		if v.def != "" {
			env[v.name] = v.def
		}
	}
	configTestDiff(t, configTestLoad(t, env), configTestDefaults())
}

// configTestEnvAll sets every variable to a value other than its default
// (except OTEL_SDK_DISABLED, which would hide TRACING_ENABLED).
var configTestEnvAll = map[string]string{
	"TASKMAN_MCP_TRANSPORT":              "HTTP",
	"PORT":                               "8080",
	"HOST":                               "0.0.0.0",
	"TASKMAN_ALLOWED_HOSTS":              " a.example , ,b.example:8080,",
	"TASKMAN_ALLOWED_ORIGINS":            "https://app.example/,http://x.test",
	"TASKMAN_AUTH_TOKEN":                 "tok",
	"TASKMAN_AUTH_METRICS":               "yes",
	"TASKMAN_OPS_ADDR":                   "127.0.0.1:9464",
	"TASKMAN_TOOLSETS":                   "Sprints, tasks",
	"TASKMAN_READ_ONLY":                  "yes",
	"TASKMAN_SESSION_IDLE_TIMEOUT_MS":    "60000",
	"TASKMAN_MAX_SESSIONS":               "5",
	"TASKMAN_MAX_REQUEST_BYTES":          "1024",
	"TASKMAN_MAX_IN_FLIGHT":              "7",
	"NODE_ENV":                           "test",
	"TASK_MANAGER_API_ENDPOINT":          "https://api.example/api/v1//",
	"TASKMAN_DATA_FILE":                  "",
	"TASKMAN_BACKEND_DIALECT":            "TaskMan-V2",
	"TASKMAN_DEFAULT_OWNER":              "ops team",
	"BACKEND_TIMEOUT_MS":                 "1500",
	"BACKEND_MAX_RETRIES":                "0",
	"BACKEND_RETRY_DELAY_MS":             "0",
	"LOG_LEVEL":                          "WARNING",
	"LOG_FORMAT":                         "pretty",
	"TASKMAN_DEBUG":                      "false",
	"METRICS_ENABLED":                    "0",
	"TRACING_ENABLED":                    "TRUE",
	"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://collector:4318",
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector.example/v1/traces",
	"OTEL_EXPORTER_OTLP_HEADERS":         "api-key=a%20b%2Cc, x-tenant = t1 ",
	"OTEL_SERVICE_NAME":                  "tm",
	"OTEL_RESOURCE_ATTRIBUTES":           "deployment.environment=staging,team=a%3Db",
	"OTEL_TRACES_SAMPLER":                "ParentBased_TraceIdRatio",
	"OTEL_TRACES_SAMPLER_ARG":            "0.25",
	"OTEL_SDK_DISABLED":                  "no",
	"OTEL_SAMPLE_RATE":                   "0.5",
	"OTEL_DEBUG":                         "1",
	"CIRCUIT_BREAKER_ENABLED":            "false",
	"CIRCUIT_BREAKER_ERROR_THRESHOLD":    "100",
	"CIRCUIT_BREAKER_RESET_TIMEOUT_MS":   "5000",
	"CIRCUIT_BREAKER_VOLUME_THRESHOLD":   "0",
	"CIRCUIT_BREAKER_WINDOW_MS":          "2000",
	"FALLBACK_CACHE_ENABLED":             "No",
	"FALLBACK_CACHE_MAX_SIZE":            "1",
	"FALLBACK_CACHE_TTL_MS":              "1",
	"HEALTH_CHECK_ENABLED":               "False",
	"TASKMAN_READY_REQUIRES_BACKEND":     "true",
	"GRACEFUL_SHUTDOWN_TIMEOUT_MS":       "1",
}

// configTestAllWant is the config that configTestEnvAll gives.
func configTestAllWant() *config {
	return &config{
		Transport:          "http",
		Host:               "0.0.0.0",
		Port:               8080,
		AllowedHosts:       []string{"a.example", "b.example:8080"},
		AllowedOrigins:     []string{"https://app.example", "http://x.test"},
		AuthToken:          "tok",
		AuthMetrics:        true,
		OpsAddr:            "127.0.0.1:9464",
		Toolsets:           []string{"tasks", "sprints"},
		ReadOnly:           true,
		SessionIdleTimeout: time.Minute,
		MaxSessions:        5,
		MaxRequestBytes:    1024,
		MaxInFlight:        7,
		Env:                "test",
		BackendURL:         "https://api.example/api/v1",
		BackendDialect:     dialectTaskmanV2,
		DefaultOwner:       "ops team",
		BackendTimeout:     1500 * time.Millisecond,
		BackendMaxRetries:  0,
		BackendRetryDelay:  0,
		LogLevel:           slog.LevelWarn,
		LogFormat:          "pretty",
		MetricsEnabled:     false,
		HealthEnabled:      false,
		ReadyNeedsBackend:  true,
		ShutdownTimeout:    time.Millisecond,
		OTel: otelConfig{
			Enabled:            true,
			Endpoint:           "http://collector:4318",
			TracesEndpoint:     "https://collector.example/v1/traces",
			Headers:            map[string]secret{"api-key": "a b,c", "x-tenant": "t1"},
			ServiceName:        "tm",
			ResourceAttributes: map[string]string{"deployment.environment": "staging", "team": "a=b"},
			Sampler:            "parentbased_traceidratio",
			SamplerArg:         "0.25",
			SampleRate:         0.5,
			Debug:              true,
		},
		Breaker: breakerConfig{ErrorThreshold: 100, ResetTimeout: 5 * time.Second, Window: 2 * time.Second},
		Cache:   cacheConfig{MaxSize: 1, TTL: time.Millisecond},
	}
}

func TestLoadConfigEveryVariable(t *testing.T) {
	for _, v := range configVars {
		if _, ok := configTestEnvAll[v.name]; !ok {
			t.Errorf("configTestEnvAll lacks %s: every variable must be tested", v.name)
		}
	}
	c := configTestLoad(t, configTestEnvAll)
	configTestDiff(t, c, configTestAllWant())
	if c.embedded() {
		t.Errorf("embedded() = true with TASK_MANAGER_API_ENDPOINT set, want false")
	}
}

// TestLoadConfigReadsOnlyTableVariables checks that loadConfig asks for
// exactly the variables (and aliases) of configVars, so the table that
// documents them is complete.
func TestLoadConfigReadsOnlyTableVariables(t *testing.T) {
	asked := map[string]bool{}
	if _, err := loadConfig(func(n string) string { asked[n] = true; return "" }, ""); err != nil {
		t.Fatalf("loadConfig() error: %v", err)
	}
	want := map[string]bool{}
	for _, v := range configVars {
		want[v.name] = true
		if v.alias != "" {
			want[v.alias] = true
		}
	}
	if !reflect.DeepEqual(asked, want) {
		t.Errorf("loadConfig read %v, want the table's %v", slices.Sorted(maps.Keys(asked)), slices.Sorted(maps.Keys(want)))
	}
}

// configTestBadCases are invalid settings and the problem line each gives.
var configTestBadCases = []struct {
	name string
	env  map[string]string
	want string
}{
	{"transport", map[string]string{"TASKMAN_MCP_TRANSPORT": "sse"}, `TASKMAN_MCP_TRANSPORT: must be stdio or http, got "sse"`},
	{"port garbage", map[string]string{"PORT": "abc"}, `PORT: must be an integer from 1 to 65535, got "abc"`},
	{"port zero", map[string]string{"PORT": "0"}, `PORT: must be an integer from 1 to 65535, got "0"`},
	{"host with port", map[string]string{"HOST": "localhost:3000"}, `HOST: must be a host name or IP address, without port, got "localhost:3000"`},
	{"allowed hosts only commas", map[string]string{"TASKMAN_ALLOWED_HOSTS": ", ,"}, `TASKMAN_ALLOWED_HOSTS: must be a comma-separated list of at least one host name, got ", ,"`},
	{"auth metrics", map[string]string{"TASKMAN_AUTH_METRICS": "on"}, `TASKMAN_AUTH_METRICS: must be true or false (or 1/0, yes/no), got "on"`},
	{"toolsets unknown", map[string]string{"TASKMAN_TOOLSETS": "tasks,boards"}, `TASKMAN_TOOLSETS: must be a comma list of tasks, projects, action_lists, sprints, helpers or all, got "tasks,boards"`},
	{"toolsets only commas", map[string]string{"TASKMAN_TOOLSETS": ",,"}, `TASKMAN_TOOLSETS: must name at least one toolset (tasks, projects, action_lists, sprints, helpers or all), got ",,"`},
	{"read only", map[string]string{"TASKMAN_READ_ONLY": "ro"}, `TASKMAN_READ_ONLY: must be true or false (or 1/0, yes/no), got "ro"`},
	{"ops addr no port", map[string]string{"TASKMAN_OPS_ADDR": "127.0.0.1"}, `TASKMAN_OPS_ADDR: must be host:port with a port from 1 to 65535, got "127.0.0.1"`},
	{"idle timeout negative", map[string]string{"TASKMAN_SESSION_IDLE_TIMEOUT_MS": "-5"}, `TASKMAN_SESSION_IDLE_TIMEOUT_MS: must be a whole number of milliseconds from 1 to 9223372036854, got "-5"`},
	{"max sessions zero", map[string]string{"TASKMAN_MAX_SESSIONS": "0"}, `TASKMAN_MAX_SESSIONS: must be an integer of at least 1, got "0"`},
	{"max request bytes small", map[string]string{"TASKMAN_MAX_REQUEST_BYTES": "1023"}, `TASKMAN_MAX_REQUEST_BYTES: must be an integer from 1024 to 1073741824, got "1023"`},
	{"node env", map[string]string{"NODE_ENV": "staging"}, `NODE_ENV: must be development, test or production, got "staging"`},
	{"endpoint relative", map[string]string{"TASK_MANAGER_API_ENDPOINT": "localhost:3001/api"}, `TASK_MANAGER_API_ENDPOINT: must be an absolute http:// or https:// URL with a host and no query or fragment, got "localhost:3001/api"`},
	{"owner too long", map[string]string{"TASKMAN_DEFAULT_OWNER": strings.Repeat("o", 101)}, `TASKMAN_DEFAULT_OWNER: must be 1 to 100 characters (TaskMan-v2's owner limit), got "` + strings.Repeat("o", 101) + `"`},
	{"data file with remote", map[string]string{"TASK_MANAGER_API_ENDPOINT": "http://h", "TASKMAN_DATA_FILE": "/d.json"}, `TASKMAN_DATA_FILE: only used by the embedded backend; unset it or TASK_MANAGER_API_ENDPOINT, got "/d.json"`},
	{"backend timeout zero", map[string]string{"BACKEND_TIMEOUT_MS": "0"}, `BACKEND_TIMEOUT_MS: must be a whole number of milliseconds from 1 to 9223372036854, got "0"`},
	{"retries too many", map[string]string{"BACKEND_MAX_RETRIES": "11"}, `BACKEND_MAX_RETRIES: must be an integer from 0 to 10, got "11"`},
	{"retry delay overflow", map[string]string{"BACKEND_RETRY_DELAY_MS": "9223372036855"}, `BACKEND_RETRY_DELAY_MS: must be a whole number of milliseconds from 0 to 9223372036854, got "9223372036855"`},
	{"log level", map[string]string{"LOG_LEVEL": "verbose"}, `LOG_LEVEL: must be trace, debug, info, warn, error or fatal, got "verbose"`},
	{"log format", map[string]string{"LOG_FORMAT": "text"}, `LOG_FORMAT: must be json or pretty, got "text"`},
	{"debug", map[string]string{"TASKMAN_DEBUG": "2"}, `TASKMAN_DEBUG: must be true or false (or 1/0, yes/no), got "2"`},
	{"metrics alias", map[string]string{"ENABLE_METRICS": "y"}, `ENABLE_METRICS: must be true or false (or 1/0, yes/no), got "y"`},
	{"tracing", map[string]string{"TRACING_ENABLED": "enabled"}, `TRACING_ENABLED: must be true or false (or 1/0, yes/no), got "enabled"`},
	{"otlp endpoint scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://c:4317"}, `OTEL_EXPORTER_OTLP_ENDPOINT: must be an absolute http:// or https:// URL with a host and no query or fragment, got "grpc://c:4317"`},
	{"traces endpoint password redacted", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://u:pw@c:99999/v1/traces"}, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: must be an absolute http:// or https:// URL with a host and no query or fragment, got "https://[redacted]@c:99999/v1/traces"`},
	{"endpoint user name redacted", map[string]string{"TASK_MANAGER_API_ENDPOINT": "https://TOKEN-1@api.example/v1?x=1"}, `TASK_MANAGER_API_ENDPOINT: must be an absolute http:// or https:// URL with a host and no query or fragment, got "https://[redacted]@api.example/v1?x=1"`},
	{"unparseable endpoint not echoed", map[string]string{"TASK_MANAGER_API_ENDPOINT": "https://u:TOKEN-2%zz@api.example"}, `TASK_MANAGER_API_ENDPOINT: must be an absolute http:// or https:// URL with a host and no query or fragment, got "[redacted] (not a parseable URL)"`},
	{"headers no equals, value hidden", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "a=1,Bearer hunter2"}, `OTEL_EXPORTER_OTLP_HEADERS: must be comma-separated key=value pairs with URL-encoded values; entry 2 has no '=', got "[redacted]"`},
	{"headers bad name", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "bad key=1"}, `OTEL_EXPORTER_OTLP_HEADERS: must be comma-separated key=value pairs with URL-encoded values; entry 1 has "bad key", not a header name, got "[redacted]"`},
	{"resource attributes escape", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "a=%zz"}, `OTEL_RESOURCE_ATTRIBUTES: must be comma-separated key=value pairs with URL-encoded values; entry 1 has a bad %-escape, got "a=%zz"`},
	{"resource attributes empty key", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "=v"}, `OTEL_RESOURCE_ATTRIBUTES: must be comma-separated key=value pairs with URL-encoded values; entry 1 has an empty key, got "=v"`},
	{"sampler", map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}, `OTEL_TRACES_SAMPLER: must be always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio, got "jaeger_remote"`},
	{"sampler arg", map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, `OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1 for sampler traceidratio, got "2"`},
	{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "si"}, `OTEL_SDK_DISABLED: must be true or false (or 1/0, yes/no), got "si"`},
	{"sample rate", map[string]string{"OTEL_SAMPLE_RATE": "NaN"}, `OTEL_SAMPLE_RATE: must be a number from 0 to 1, got "NaN"`},
	{"otel debug", map[string]string{"OTEL_DEBUG": "debug"}, `OTEL_DEBUG: must be true or false (or 1/0, yes/no), got "debug"`},
	{"breaker enabled", map[string]string{"CIRCUIT_BREAKER_ENABLED": "t"}, `CIRCUIT_BREAKER_ENABLED: must be true or false (or 1/0, yes/no), got "t"`},
	{"breaker threshold", map[string]string{"CIRCUIT_BREAKER_ERROR_THRESHOLD": "101"}, `CIRCUIT_BREAKER_ERROR_THRESHOLD: must be an integer from 1 to 100, got "101"`},
	{"breaker reset", map[string]string{"CIRCUIT_BREAKER_RESET_TIMEOUT_MS": "1.5"}, `CIRCUIT_BREAKER_RESET_TIMEOUT_MS: must be a whole number of milliseconds from 1 to 9223372036854, got "1.5"`},
	{"breaker volume", map[string]string{"CIRCUIT_BREAKER_VOLUME_THRESHOLD": "-1"}, `CIRCUIT_BREAKER_VOLUME_THRESHOLD: must be an integer of at least 0, got "-1"`},
	{"breaker window", map[string]string{"CIRCUIT_BREAKER_WINDOW_MS": "10s"}, `CIRCUIT_BREAKER_WINDOW_MS: must be a whole number of milliseconds from 1 to 9223372036854, got "10s"`},
	{"cache enabled", map[string]string{"FALLBACK_CACHE_ENABLED": "nope"}, `FALLBACK_CACHE_ENABLED: must be true or false (or 1/0, yes/no), got "nope"`},
	{"cache size overflow", map[string]string{"FALLBACK_CACHE_MAX_SIZE": "99999999999999999999"}, `FALLBACK_CACHE_MAX_SIZE: must be an integer of at least 1, got "99999999999999999999"`},
	{"cache ttl", map[string]string{"FALLBACK_CACHE_TTL_MS": "1e3"}, `FALLBACK_CACHE_TTL_MS: must be a whole number of milliseconds from 1 to 9223372036854, got "1e3"`},
	{"health", map[string]string{"HEALTH_CHECK_ENABLED": "off"}, `HEALTH_CHECK_ENABLED: must be true or false (or 1/0, yes/no), got "off"`},
	{"shutdown", map[string]string{"GRACEFUL_SHUTDOWN_TIMEOUT_MS": " "}, ``}, // blank is unset: no problem
	{"shutdown underscore", map[string]string{"GRACEFUL_SHUTDOWN_TIMEOUT_MS": "1_000"}, `GRACEFUL_SHUTDOWN_TIMEOUT_MS: must be a whole number of milliseconds from 1 to 9223372036854, got "1_000"`},
	{"taskman-v2 without endpoint", map[string]string{"TASKMAN_BACKEND_DIALECT": "taskman-v2", "TASK_MANAGER_API_ENDPOINT": ""}, `TASKMAN_BACKEND_DIALECT: needs TASK_MANAGER_API_ENDPOINT (the embedded backend always speaks legacy), got "taskman-v2"`},
}

func TestLoadConfigProblems(t *testing.T) {
	for _, tc := range configTestBadCases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				configTestLoad(t, tc.env)
				return
			}
			got := configTestProblems(t, tc.env, "")
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("loadConfig(%v) problems =\n%s\nwant\n%s", tc.env, strings.Join(got, "\n"), tc.want)
			}
		})
	}
}

// TestLoadConfigAllProblemsAtOnce checks that every problem is reported in
// one pass, sorted by variable name.
func TestLoadConfigAllProblemsAtOnce(t *testing.T) {
	env := map[string]string{}
	var want []string
	for _, tc := range configTestBadCases {
		clash := false
		for k := range tc.env {
			if _, ok := env[k]; ok {
				clash = true
			}
		}
		if clash || tc.want == "" {
			continue
		}
		for k, v := range tc.env {
			env[k] = v
		}
		want = append(want, tc.want)
	}
	sort.Strings(want)
	if len(want) < 30 {
		t.Fatalf("only %d cases combined; the test lost its point", len(want))
	}
	c, err := loadConfig(configTestEnv(env), "")
	var ce *configError
	if !errors.As(err, &ce) {
		t.Fatalf("loadConfig() = %v, %v; want a *configError", c, err)
	}
	if got := ce.Problems(); !slices.Equal(got, want) {
		t.Errorf("Problems() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("Error() =\n%s\nwant the problems joined by newlines", got)
	}
	ce.Problems()[0] = "changed"
	if ce.Problems()[0] == "changed" {
		t.Errorf("Problems() returned the error's own slice, want a copy")
	}
}

func TestLoadConfigBooleans(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"true", true}, {"TRUE", true}, {"True", true}, {"1", true}, {"yes", true}, {"YES", true}, {"Yes", true}, {" yes\t", true},
		{"false", false}, {"FALSE", false}, {"False", false}, {"0", false}, {"no", false}, {"NO", false}, {"No", false},
	} {
		// One variable defaulting to false and one to true, so that a
		// parse falling back to the default cannot pass.
		for _, name := range []string{"TASKMAN_AUTH_METRICS", "HEALTH_CHECK_ENABLED"} {
			c := configTestLoad(t, map[string]string{name: tc.in})
			got := c.AuthMetrics
			if name == "HEALTH_CHECK_ENABLED" {
				got = c.HealthEnabled
			}
			if got != tc.want {
				t.Errorf("%s=%q gives %v, want %v", name, tc.in, got, tc.want)
			}
		}
	}
	for _, in := range []string{"on", "off", "y", "n", "2", "t", "enable", "truee"} {
		if p := configTestProblems(t, map[string]string{"OTEL_DEBUG": in}, ""); len(p) != 1 {
			t.Errorf("OTEL_DEBUG=%q: problems %q, want one", in, p)
		}
	}
}

func TestLoadConfigLogLevel(t *testing.T) {
	for _, tc := range []struct {
		level, debug string
		want         slog.Level
	}{
		{"", "", slog.LevelInfo},
		{"trace", "", slog.Level(-8)},
		{"TRACE", "", slog.Level(-8)},
		{"Debug", "", slog.LevelDebug},
		{"info", "", slog.LevelInfo},
		{"warn", "", slog.LevelWarn},
		{"Warning", "", slog.LevelWarn},
		{"ERROR", "", slog.LevelError},
		{"fatal", "", slog.Level(12)},
		{"", "true", slog.LevelDebug},
		{"error", "yes", slog.LevelDebug},
		{"trace", "true", slog.Level(-8)},
		{"warn", "false", slog.LevelWarn},
	} {
		c := configTestLoad(t, map[string]string{"LOG_LEVEL": tc.level, "TASKMAN_DEBUG": tc.debug})
		if c.LogLevel != tc.want {
			t.Errorf("LOG_LEVEL=%q TASKMAN_DEBUG=%q gives %v, want %v", tc.level, tc.debug, c.LogLevel, tc.want)
		}
	}
}

func TestLoadConfigNodeEnvDefaults(t *testing.T) {
	for _, tc := range []struct {
		name        string
		env         map[string]string
		wantTracing bool
		wantRate    float64
	}{
		{"development", map[string]string{}, false, 1.0},
		{"test", map[string]string{"NODE_ENV": "test"}, false, 1.0},
		{"production", map[string]string{"NODE_ENV": "production"}, true, 0.1},
		{"production any case", map[string]string{"NODE_ENV": "Production"}, true, 0.1},
		{"production, explicit", map[string]string{"NODE_ENV": "production", "TRACING_ENABLED": "false", "OTEL_SAMPLE_RATE": "1"}, false, 1.0},
		{"production, alias", map[string]string{"NODE_ENV": "production", "ENABLE_TRACING": "no"}, false, 0.1},
		{"production, sdk disabled", map[string]string{"NODE_ENV": "production", "OTEL_SDK_DISABLED": "true"}, false, 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := configTestLoad(t, tc.env)
			if c.OTel.Enabled != tc.wantTracing || c.OTel.SampleRate != tc.wantRate {
				t.Errorf("loadConfig(%v): OTel.Enabled, SampleRate = %v, %v; want %v, %v", tc.env, c.OTel.Enabled, c.OTel.SampleRate, tc.wantTracing, tc.wantRate)
			}
		})
	}
}

func TestLoadConfigAliases(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		env, dotenv              map[string]string
		wantMetrics, wantTracing bool
	}{
		{"defaults", nil, nil, true, false},
		{"aliases alone", map[string]string{"ENABLE_METRICS": "false", "ENABLE_TRACING": "true"}, nil, false, true},
		{"primary wins", map[string]string{"METRICS_ENABLED": "true", "ENABLE_METRICS": "false", "TRACING_ENABLED": "false", "ENABLE_TRACING": "true"}, nil, true, false},
		{"primary wins, invalid alias ignored", map[string]string{"METRICS_ENABLED": "false", "ENABLE_METRICS": "bogus"}, nil, false, false},
		{"alias in .env", nil, map[string]string{"ENABLE_METRICS": "no", "ENABLE_TRACING": "yes"}, false, true},
		{"environment alias beats .env primary", map[string]string{"ENABLE_METRICS": "false"}, map[string]string{"METRICS_ENABLED": "true"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := configTestDotEnvFile(t, tc.dotenv)
			c, err := loadConfig(configTestEnv(tc.env), path)
			if err != nil {
				t.Fatalf("loadConfig(%v, %v) error: %v", tc.env, tc.dotenv, err)
			}
			if c.MetricsEnabled != tc.wantMetrics || c.OTel.Enabled != tc.wantTracing {
				t.Errorf("MetricsEnabled, OTel.Enabled = %v, %v; want %v, %v", c.MetricsEnabled, c.OTel.Enabled, tc.wantMetrics, tc.wantTracing)
			}
		})
	}
}

func TestLoadConfigOTelSDKDisabled(t *testing.T) {
	for _, tc := range []struct {
		tracing, disabled string
		want              bool
	}{
		{"true", "", true},
		{"true", "false", true},
		{"true", "true", false},
		{"1", "TRUE", false},
		{"", "true", false},
	} {
		c := configTestLoad(t, map[string]string{"TRACING_ENABLED": tc.tracing, "OTEL_SDK_DISABLED": tc.disabled})
		if c.OTel.Enabled != tc.want {
			t.Errorf("TRACING_ENABLED=%q OTEL_SDK_DISABLED=%q gives OTel.Enabled %v, want %v", tc.tracing, tc.disabled, c.OTel.Enabled, tc.want)
		}
	}
}

// configTestDotEnvFile writes vars as a .env file in a temporary directory
// and returns its path (a path that does not exist when vars is nil).
func configTestDotEnvFile(t *testing.T, vars map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".env")
	if vars == nil {
		return path
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		b.WriteString(k + "=" + configQuote(vars[k]) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseDotEnv(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]string
	}{
		{"empty", "", map[string]string{}},
		{"plain", "A=1\nB=two words\n", map[string]string{"A": "1", "B": "two words"}},
		{"blanks, comments, CRLF", "\n  # comment\r\nA=1\r\n\t\n#B=2\n", map[string]string{"A": "1"}},
		{"export", "export A=1\nexport\tB = 2 \nexportC=3\nexport=4", map[string]string{"A": "1", "B": "2", "exportC": "3", "export": "4"}},
		{"inline comment", "A=1 # note\nB=x#y\nC= #only a comment\nD=a\t# tab", map[string]string{"A": "1", "B": "x#y", "C": "", "D": "a"}},
		{"double quotes", `A="a b # c"` + "\n" + `B="line\nnext \"q\" back\\slash \t"` + "\n" + `C="" # empty`, map[string]string{"A": "a b # c", "B": "line\nnext \"q\" back\\slash \\t", "C": ""}},
		{"single quotes", `A='$HOME \n "x"'` + "\nB=''", map[string]string{"A": `$HOME \n "x"`, "B": ""}},
		{"no interpolation", "A=${HOME}\nB=$A", map[string]string{"A": "${HOME}", "B": "$A"}},
		{"equals in value", "A=k=v=w\nB=\"=\"", map[string]string{"A": "k=v=w", "B": "="}},
		{"last wins", "A=1\nA=2", map[string]string{"A": "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDotEnv(strings.NewReader(tc.in), ".env")
			if err != nil {
				t.Fatalf("parseDotEnv(%q) error: %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseDotEnv(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseDotEnvProblems(t *testing.T) {
	in := strings.Join([]string{
		"GOOD=1",
		"just words",
		"1BAD=x",
		`Q="open`,
		`S='open`,
		`T="a" b`,
		"export ONLYNAME",
		"B-AD=1",
		"ALSO_GOOD='y' # fine",
	}, "\n")
	got, err := parseDotEnv(strings.NewReader(in), "/cfg/.env")
	var ce *configError
	if !errors.As(err, &ce) {
		t.Fatalf("parseDotEnv() error = %v, want a *configError", err)
	}
	want := []string{
		"/cfg/.env:2: expected KEY=value",
		`/cfg/.env:3: invalid variable name "1BAD"`,
		"/cfg/.env:4: Q: unterminated double-quoted value",
		"/cfg/.env:5: S: unterminated single-quoted value",
		"/cfg/.env:6: T: unexpected text after the closing quote",
		"/cfg/.env:7: expected KEY=value",
		`/cfg/.env:8: invalid variable name "B-AD"`,
	}
	if !slices.Equal(ce.Problems(), want) {
		t.Errorf("parseDotEnv() problems =\n%s\nwant\n%s", strings.Join(ce.Problems(), "\n"), strings.Join(want, "\n"))
	}
	if wantVars := map[string]string{"GOOD": "1", "ALSO_GOOD": "y"}; !reflect.DeepEqual(got, wantVars) {
		t.Errorf("parseDotEnv() vars = %q, want %q (the good lines)", got, wantVars)
	}
}

func TestParseDotEnvTooLarge(t *testing.T) {
	in := strings.Repeat("#", configDotEnvMaxBytes+1)
	_, err := parseDotEnv(strings.NewReader(in), "big.env")
	if err == nil || !strings.Contains(err.Error(), "big.env: larger than") {
		t.Errorf("parseDotEnv(%d bytes) error = %v, want a size problem naming the file", len(in), err)
	}
}

func TestLoadConfigDotEnv(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	content := "# deployment settings\n" +
		"export PORT=4000\n" +
		"HOST='0.0.0.0'\n" +
		`TASKMAN_AUTH_TOKEN="from file"` + "\n" +
		"LOG_FORMAT=pretty # humans\n" +
		"TASKMAN_MAX_SESSIONS=\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(configTestEnv(map[string]string{"PORT": "5000"}), path)
	if err != nil {
		t.Fatalf("loadConfig() error: %v", err)
	}
	if c.Port != 5000 {
		t.Errorf("Port = %d, want 5000 (the environment wins over .env)", c.Port)
	}
	if c.Host != "0.0.0.0" || c.AuthToken.reveal() != "from file" || c.LogFormat != "pretty" || c.MaxSessions != 1000 {
		t.Errorf("Host, token, LogFormat, MaxSessions = %q, %q, %q, %d; want the .env values and the default", c.Host, c.AuthToken.reveal(), c.LogFormat, c.MaxSessions)
	}

	t.Run("missing file is fine", func(t *testing.T) {
		if _, err := loadConfig(configTestEnv(nil), filepath.Join(dir, "absent.env")); err != nil {
			t.Errorf("loadConfig(missing .env) error: %v", err)
		}
	})
	t.Run("malformed line and bad values reported together", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.env")
		if err := os.WriteFile(bad, []byte("PORT=abc\nnot a line\nLOG_LEVEL=loud\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got := configTestProblems(t, nil, bad)
		want := []string{
			bad + ":2: expected KEY=value",
			`LOG_LEVEL: must be trace, debug, info, warn, error or fatal, got "loud"`,
			`PORT: must be an integer from 1 to 65535, got "abc"`,
		}
		if !slices.Equal(got, want) {
			t.Errorf("problems =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("unreadable file", func(t *testing.T) {
		got := configTestProblems(t, nil, dir) // a directory cannot be read as a file
		if len(got) != 1 || !strings.Contains(got[0], dir) {
			t.Errorf("problems = %q, want one naming %s", got, dir)
		}
	})
}

// configTestSecretEnv holds secrets whose text must never be printed.
var configTestSecretEnv = map[string]string{
	"TASKMAN_AUTH_TOKEN":         "tok-SECRET-1",
	"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20hdr-SECRET-2,x-api-key=key-SECRET-3",
	// URL passwords are plain strings in config (fmt shows them), but
	// --print-config and the config's LogValue redact them.
	"TASK_MANAGER_API_ENDPOINT":   "https://user:URLPASS-4@api.example/v1",
	"OTEL_EXPORTER_OTLP_ENDPOINT": "https://u:URLPASS-5@collector.example",
}

func TestConfigSecretsNeverPrinted(t *testing.T) {
	c := configTestLoad(t, configTestSecretEnv)
	if got := c.AuthToken.reveal(); got != "tok-SECRET-1" {
		t.Fatalf("AuthToken.reveal() = %q, want the token", got)
	}
	if got := c.OTel.Headers["authorization"].reveal(); got != "Bearer hdr-SECRET-2" {
		t.Fatalf("Headers[authorization].reveal() = %q, want the decoded value", got)
	}

	var printed bytes.Buffer
	if err := c.writeTo(&printed); err != nil {
		t.Fatal(err)
	}
	out := printed.String()
	for _, want := range []string{
		"TASKMAN_AUTH_TOKEN=[redacted]\n",
		"OTEL_EXPORTER_OTLP_HEADERS=authorization=[redacted],x-api-key=[redacted]\n",
		"TASK_MANAGER_API_ENDPOINT=https://[redacted]@api.example/v1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("writeTo output lacks %q:\n%s", want, out)
		}
	}

	outputs := map[string]string{"writeTo": out}
	// The verbs loop (rather than one constant format) because vet rejects
	// %s on a struct, and printing it that way is exactly what is tested.
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		outputs["fmt "+verb] = fmt.Sprintf(verb, c)
		outputs["fmt * "+verb] = fmt.Sprintf(verb, *c)
	}
	for _, mk := range []struct {
		name string
		h    func(*bytes.Buffer) slog.Handler
	}{
		{"slog json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
		{"slog text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
	} {
		var b bytes.Buffer
		slog.New(mk.h(&b)).Info("config", "ptr", c, "value", *c, "token", c.AuthToken, "otel", c.OTel)
		outputs[mk.name] = b.String()
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(js)
	for name, text := range outputs {
		if strings.Contains(text, "SECRET") {
			t.Errorf("%s output reveals a secret:\n%s", name, text)
		}
		if name != "writeTo" && !strings.Contains(text, "[redacted]") {
			t.Errorf("%s output has no [redacted] marker, so the test saw nothing:\n%s", name, text)
		}
	}

	var lb bytes.Buffer
	slog.New(slog.NewJSONHandler(&lb, nil)).Info("config", "config", c)
	for name, text := range map[string]string{"writeTo": out, "LogValue": lb.String()} {
		if strings.Contains(text, "URLPASS") {
			t.Errorf("%s output reveals a URL password:\n%s", name, text)
		}
	}
}

func TestSecretFormatting(t *testing.T) {
	for _, tc := range []struct {
		s    secret
		want string
	}{
		{"hunter2", "[redacted]"},
		{"", ""},
	} {
		for _, verb := range []string{"%v", "%+v", "%s", "%x", "%X", "%d", "%10s"} {
			if got := fmt.Sprintf(verb, tc.s); got != tc.want {
				t.Errorf("Sprintf(%q, secret) = %q, want %q", verb, got, tc.want)
			}
		}
		quoted := fmt.Sprintf("%q", tc.want)
		for _, verb := range []string{"%q", "%#v"} {
			if got := fmt.Sprintf(verb, tc.s); got != quoted {
				t.Errorf("Sprintf(%q, secret) = %q, want %q", verb, got, quoted)
			}
		}
		if got := tc.s.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
		if got := tc.s.GoString(); got != quoted {
			t.Errorf("GoString() = %q, want %q", got, quoted)
		}
		if got := tc.s.LogValue().String(); got != tc.want {
			t.Errorf("LogValue() = %q, want %q", got, tc.want)
		}
		if got := tc.s.reveal(); got != string(tc.s) {
			t.Errorf("reveal() = %q, want %q", got, string(tc.s))
		}
	}
}

// TestConfigWriteToRoundTrip checks that --print-config lists every
// variable once, in table order, and that its output read back as a .env
// file gives the same configuration.
func TestConfigWriteToRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want *config
	}{
		{"defaults", nil, configTestDefaults()},
		{"everything set", configTestEnvAll, configTestAllWant()},
		{"debug, sdk disabled, odd values", map[string]string{
			"TASKMAN_DEBUG": "true", "TRACING_ENABLED": "true", "OTEL_SDK_DISABLED": "true",
			"TASKMAN_DATA_FILE": "/data dir/#tasks \"x\".json", "OTEL_RESOURCE_ATTRIBUTES": "k=a%2Cb%20c,z=%3D",
			"LOG_LEVEL": "trace",
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := configTestLoad(t, tc.env)
			var b bytes.Buffer
			if err := c.writeTo(&b); err != nil {
				t.Fatal(err)
			}
			var names []string
			for line := range strings.Lines(b.String()) {
				name, _, ok := strings.Cut(line, "=")
				if !ok {
					t.Errorf("writeTo line %q is not NAME=value", line)
				}
				names = append(names, name)
			}
			var wantNames []string
			for _, v := range configVars {
				wantNames = append(wantNames, v.name)
			}
			if !slices.Equal(names, wantNames) {
				t.Errorf("writeTo names = %v, want %v", names, wantNames)
			}

			vars, err := parseDotEnv(&b, "print-config")
			if err != nil {
				t.Fatalf("parseDotEnv(writeTo output) error: %v", err)
			}
			back := configTestLoad(t, vars)
			// Secrets come back redacted; compare the rest.
			if c.AuthToken != "" {
				back.AuthToken = c.AuthToken
			}
			if c.OTel.Headers != nil {
				back.OTel.Headers = c.OTel.Headers
			}
			configTestDiff(t, back, c)
			if tc.want != nil {
				configTestDiff(t, c, tc.want)
			}
		})
	}
}

func TestConfigLogValue(t *testing.T) {
	c := configTestLoad(t, map[string]string{"PORT": "1234", "TASKMAN_AUTH_TOKEN": "SECRET"})
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("start", "config", c)
	var line struct {
		Config map[string]string `json:"config"`
	}
	if err := json.Unmarshal(b.Bytes(), &line); err != nil {
		t.Fatalf("log line %s: %v", b.String(), err)
	}
	if line.Config["PORT"] != "1234" || line.Config["TASKMAN_AUTH_TOKEN"] != "[redacted]" || len(line.Config) != len(configVars) {
		t.Errorf("logged config = %v, want every variable with PORT=1234 and the token redacted", line.Config)
	}
}

func TestWriteConfigHelp(t *testing.T) {
	var b bytes.Buffer
	if err := writeConfigHelp(&b, "taskman-mcp"); err != nil {
		t.Fatal(err)
	}
	help := b.String()
	if want := "Usage: taskman-mcp [--help] [--version] [--print-config]\n"; !strings.HasPrefix(help, want) {
		t.Errorf("help starts %q, want %q", help[:min(len(help), 80)], want)
	}
	for _, v := range configVars {
		for _, name := range []string{v.name, v.alias} {
			if name != "" && !strings.Contains(help, name) {
				t.Errorf("help does not mention %s", name)
			}
		}
		if !strings.Contains(help, v.helpDefault()) {
			t.Errorf("help does not show %s's default %q", v.name, v.helpDefault())
		}
	}
}

// TestConfigEnvExample checks the checked-in .env.example: every variable
// of the table with its default, and nothing but what
// writeConfigEnvExample generates. Regenerate it with
// TASKMAN_UPDATE_ENV_EXAMPLE=1 go test -run TestConfigEnvExample.
func TestConfigEnvExample(t *testing.T) {
	var gen bytes.Buffer
	if err := writeConfigEnvExample(&gen); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("TASKMAN_UPDATE_ENV_EXAMPLE") == "1" {
		if err := os.WriteFile(".env.example", gen.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(".env.example")
	if err != nil {
		t.Fatalf("read .env.example: %v", err)
	}
	lines := strings.Split(string(data), "\n")
	for _, v := range configVars {
		want := "# " + v.name + "=" + configQuote(v.def)
		if !slices.Contains(lines, want) {
			t.Errorf(".env.example lacks the line %q", want)
		}
	}
	if !bytes.Equal(data, gen.Bytes()) {
		t.Errorf(".env.example differs from writeConfigEnvExample; regenerate it with TASKMAN_UPDATE_ENV_EXAMPLE=1 go test -run TestConfigEnvExample")
	}
	vars, err := parseDotEnv(bytes.NewReader(data), ".env.example")
	if err != nil || len(vars) != 0 {
		t.Errorf("parseDotEnv(.env.example) = %v, %v; want no variables (all commented out) and no error", vars, err)
	}
}

func TestConfigQuoteRoundTrip(t *testing.T) {
	for _, v := range []string{"", "plain", "two words", " lead", "trail ", "#x", "a #b", `q"uote`, "it's", `back\slash`, "new\nline", "cr\rlf", "tab\t", `\n`, "ünï"} {
		line := "K=" + configQuote(v)
		got, err := parseDotEnv(strings.NewReader(line), "q")
		if err != nil || got["K"] != v {
			t.Errorf("parseDotEnv(%q) = %q, %v; want K=%q", line, got, err, v)
		}
	}
}

func FuzzLoadDotEnv(f *testing.F) {
	for _, seed := range []string{
		"",
		"A=1\nexport B='x y'\n# c\nC=\"q\\\"\\n\\\\\" # t\n",
		"not a line\r\n=\nA=\"unterminated\n",
		"K='a'b\nK2=\"a\" # ok\n\texport\tK3 = v # c",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		vars, err := parseDotEnv(strings.NewReader(in), "fuzz.env")
		var ce *configError
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("parseDotEnv(%q) error %v is not a *configError", in, err)
		}
		if ce != nil {
			for _, p := range ce.Problems() {
				if !strings.HasPrefix(p, "fuzz.env:") || strings.Contains(p, "\n") {
					t.Errorf("problem %q does not start with fuzz.env:line or spans lines", p)
				}
			}
		}
		for k, v := range vars {
			if !configValidName(k) {
				t.Errorf("parseDotEnv(%q) returned invalid name %q", in, k)
			}
			line := k + "=" + configQuote(v)
			back, err := parseDotEnv(strings.NewReader(line), "q")
			if err != nil || back[k] != v {
				t.Errorf("value %q of %s does not survive configQuote: %q gives %q, %v", v, k, line, back[k], err)
			}
		}
		// Whatever the file says, loading must not panic, and a failure
		// must be a *configError.
		path := filepath.Join(t.TempDir(), ".env")
		if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadConfig(configTestEnv(nil), path); err != nil && !errors.As(err, &ce) {
			t.Errorf("loadConfig(.env %q) error %v is not a *configError", in, err)
		}
	})
}

func BenchmarkLoadConfig(b *testing.B) {
	env := configTestEnv(configTestEnvAll)
	for b.Loop() {
		if _, err := loadConfig(env, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConfigMaxMillis pins the overflow bound quoted in the messages.
func TestConfigMaxMillis(t *testing.T) {
	if configMaxMillis != 9223372036854 || time.Duration(configMaxMillis)*time.Millisecond < 0 {
		t.Errorf("configMaxMillis = %d, want the largest ms count a Duration holds", configMaxMillis)
	}
}

// TestStartupLogsKeepSecrets runs the server with every secret set and
// tracing on, and reads what it logged from start to exit.
func TestStartupLogsKeepSecrets(t *testing.T) {
	env := maps.Clone(configTestSecretEnv)
	env["TRACING_ENABLED"] = "true"
	env["LOG_LEVEL"] = "debug"
	c := startStdio(t, env)
	if err := c.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	logs := c.stderr.String()
	if !strings.Contains(logs, "tracing on") || !strings.Contains(logs, "collector.example") {
		t.Fatalf("no tracing start line naming the collector, so the test saw nothing:\n%s", logs)
	}
	for _, s := range []string{"SECRET", "URLPASS"} {
		if strings.Contains(logs, s) {
			t.Errorf("the logs reveal a secret (%s):\n%s", s, logs)
		}
	}
}
