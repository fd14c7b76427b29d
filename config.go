package main

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// config is the whole configuration, built once in run by loadConfig and
// read-only afterwards. Every field comes from one environment variable of
// configVars (the comment names it); see docs/config.md.
type config struct {
	Transport          string        // TASKMAN_MCP_TRANSPORT: "stdio" (default) or "http"
	Host               string        // HOST, default 127.0.0.1
	Port               int           // PORT, 1..65535, default 3000
	AllowedHosts       []string      // TASKMAN_ALLOWED_HOSTS; nil means "the default for the bind address" (decided elsewhere)
	AllowedOrigins     []string      // TASKMAN_ALLOWED_ORIGINS (extra origins, exact strings, trailing / trimmed)
	AuthToken          secret        // TASKMAN_AUTH_TOKEN
	AuthMetrics        bool          // TASKMAN_AUTH_METRICS, default false
	OpsAddr            string        // TASKMAN_OPS_ADDR, host:port; only meaningful under stdio
	Toolsets           []string      // TASKMAN_TOOLSETS: the toolsets offered (docs/tools.md), default all of them
	ReadOnly           bool          // TASKMAN_READ_ONLY, default false: offer only the read-only tools
	SessionIdleTimeout time.Duration // TASKMAN_SESSION_IDLE_TIMEOUT_MS, default 30m
	MaxSessions        int           // TASKMAN_MAX_SESSIONS, default 1000, >=1
	MaxRequestBytes    int64         // TASKMAN_MAX_REQUEST_BYTES, default 4194304, 1024..1 GiB
	MaxInFlight        int           // TASKMAN_MAX_IN_FLIGHT, default 32, >=1
	Env                string        // NODE_ENV: development (default), test, production
	BackendURL         string        // TASK_MANAGER_API_ENDPOINT; "" = embedded backend; absolute http(s) URL, trailing "/" trimmed
	DataFile           string        // TASKMAN_DATA_FILE; embedded backend only
	BackendDialect     dialect       // TASKMAN_BACKEND_DIALECT: auto (default), legacy or taskman-v2
	DefaultOwner       string        // TASKMAN_DEFAULT_OWNER, default taskman-mcp: the owner of tasks created on TaskMan-v2 without one
	BackendTimeout     time.Duration // BACKEND_TIMEOUT_MS, default 30s, >=1ms
	BackendMaxRetries  int           // BACKEND_MAX_RETRIES, 0..10, default 3
	BackendRetryDelay  time.Duration // BACKEND_RETRY_DELAY_MS, default 1s, >=0
	LogLevel           slog.Level    // LOG_LEVEL (trace -8 … fatal 12), lowered to debug by TASKMAN_DEBUG
	LogFormat          string        // LOG_FORMAT: json (default) or pretty
	MetricsEnabled     bool          // METRICS_ENABLED (alias ENABLE_METRICS), default true
	HealthEnabled      bool          // HEALTH_CHECK_ENABLED, default true
	ReadyNeedsBackend  bool          // TASKMAN_READY_REQUIRES_BACKEND, default false
	ShutdownTimeout    time.Duration // GRACEFUL_SHUTDOWN_TIMEOUT_MS, default 30s, >=1ms
	OTel               otelConfig
	Breaker            breakerConfig
	Cache              cacheConfig

	// logDebug is TASKMAN_DEBUG as given. Its effect is already in
	// LogLevel; it is kept only so that --print-config tells the truth.
	logDebug bool
	// otelSDKDisabled is OTEL_SDK_DISABLED as given. Its effect is already
	// in OTel.Enabled; it is kept only so that --print-config tells the truth.
	otelSDKDisabled bool
}

// otelConfig holds the tracing settings.
type otelConfig struct {
	Enabled            bool              // TRACING_ENABLED (alias ENABLE_TRACING) && !OTEL_SDK_DISABLED
	Endpoint           string            // OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318/v1/traces
	TracesEndpoint     string            // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, "" if unset
	Headers            map[string]secret // OTEL_EXPORTER_OTLP_HEADERS (k=v,k2=v2, values URL-decoded)
	ServiceName        string            // OTEL_SERVICE_NAME, default taskman-mcp
	ResourceAttributes map[string]string // OTEL_RESOURCE_ATTRIBUTES (k=v,...)
	Sampler            string            // OTEL_TRACES_SAMPLER, "" if unset
	SamplerArg         string            // OTEL_TRACES_SAMPLER_ARG
	SampleRate         float64           // OTEL_SAMPLE_RATE, 0..1, default 0.1 in production else 1.0
	Debug              bool              // OTEL_DEBUG
}

// breakerConfig holds the CIRCUIT_BREAKER_* settings.
type breakerConfig struct {
	Enabled         bool          // CIRCUIT_BREAKER_ENABLED, default true
	ErrorThreshold  int           // CIRCUIT_BREAKER_ERROR_THRESHOLD, percent 1..100, default 50
	ResetTimeout    time.Duration // CIRCUIT_BREAKER_RESET_TIMEOUT_MS, default 30s
	VolumeThreshold int           // CIRCUIT_BREAKER_VOLUME_THRESHOLD, default 10
	Window          time.Duration // CIRCUIT_BREAKER_WINDOW_MS, default 10s
}

// cacheConfig holds the FALLBACK_CACHE_* settings.
type cacheConfig struct {
	Enabled bool          // FALLBACK_CACHE_ENABLED, default true
	MaxSize int           // FALLBACK_CACHE_MAX_SIZE, default 1000
	TTL     time.Duration // FALLBACK_CACHE_TTL_MS, default 5m
}

// secret is a string that never prints. String, GoString, Format (every fmt
// verb), LogValue and MarshalText all give "[redacted]" for a non-empty
// secret and "" for an empty one, so that --print-config and logs show
// whether a secret is set but never its text. reveal is the only way to
// read it, which makes every use easy to find in review.
type secret string

// configRedacted is what a set secret prints as.
const configRedacted = "[redacted]"

// reveal returns the secret's text, for the one place that must send it.
func (s secret) reveal() string { return string(s) }

// String returns "[redacted]", or "" when the secret is empty.
func (s secret) String() string {
	if s == "" {
		return ""
	}
	return configRedacted
}

// GoString returns String quoted, so that %#v of a struct holding a secret
// stays valid-looking Go without revealing it.
func (s secret) GoString() string { return strconv.Quote(s.String()) }

// Format implements fmt.Formatter so that no verb (%s, %v, %x, %q, %#v …)
// can reach the underlying string.
func (s secret) Format(f fmt.State, verb rune) {
	text := s.String()
	if verb == 'q' || (verb == 'v' && f.Flag('#')) {
		text = strconv.Quote(text)
	}
	_, _ = io.WriteString(f, text)
}

// LogValue implements slog.LogValuer.
func (s secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText implements encoding.TextMarshaler, which covers encoding/json:
// slog's JSON handler marshals a struct it is given as a whole, past any
// LogValue method of its fields.
func (s secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Limits that are not defaults (defaults live in configVars).
const (
	// configDotEnvMaxBytes caps the .env file we read: a real one is a few
	// kilobytes, and a huge file named .env should fail fast, not fill memory.
	configDotEnvMaxBytes = 1 << 20
	// configMaxMillis is the largest millisecond count a time.Duration
	// (int64 nanoseconds, about 292 years) can hold.
	configMaxMillis = math.MaxInt64 / int64(time.Millisecond)
	// configMinRequestBytes: below 1 KiB not even an initialize request fits.
	configMinRequestBytes = 1024
	// configMaxRequestBytes: a body above 1 GiB is no limit worth the name
	// on the 24 GiB machines this runs on, and surely a typo.
	configMaxRequestBytes = 1 << 30
	// configMaxRetries: ten extra attempts with backoff already outlast any
	// caller's patience; more is a typo.
	configMaxRetries = 10
	// configNoMax marks an integer setting with only a lower bound.
	configNoMax = math.MaxInt
)

// Section titles of .env.example, in the order the variables appear.
const (
	configGroupServer  = "Server and transport (stdio or Streamable HTTP)"
	configGroupBackend = "Backend (Task Manager API)"
	configGroupLogging = "Logging (always to stderr)"
	configGroupMetrics = "Metrics"
	configGroupTracing = "Tracing (OpenTelemetry over OTLP/HTTP)"
	configGroupBreaker = "Circuit breaker (one per backend operation)"
	configGroupCache   = "Fallback cache (stale reads when the backend fails)"
	configGroupHealth  = "Health checks and shutdown"
)

// configVar describes one environment variable. configVars is the single
// source for --help, --print-config, .env.example and the defaults that
// loadConfig applies.
type configVar struct {
	name    string                 // the variable's name
	alias   string                 // an older second name, read when name is unset; "" if none
	group   string                 // the .env.example section
	def     string                 // the default as written in .env ("" = unset); the non-production one where NODE_ENV matters
	defText string                 // how --help shows the default when def alone would mislead; "" to show def
	help    string                 // one line: what it does and its rule
	value   func(c *config) string // the effective value for --print-config, secrets redacted
}

// configVars lists every variable in the order of docs/config.md's table. It is
// a constant in spirit: nothing writes to it.
var configVars = []configVar{
	{name: "TASKMAN_MCP_TRANSPORT", group: configGroupServer, def: "stdio",
		help:  "stdio (one client on stdin/stdout) or http (Streamable HTTP on HOST:PORT)",
		value: func(c *config) string { return c.Transport }},
	// 3000 is the old server's port, so existing client configs still work.
	{name: "PORT", group: configGroupServer, def: "3000",
		help:  "HTTP port, 1..65535",
		value: func(c *config) string { return strconv.Itoa(c.Port) }},
	// Loopback by default: nothing is exposed to the network unless asked.
	{name: "HOST", group: configGroupServer, def: "127.0.0.1",
		help:  "HTTP bind address; set 0.0.0.0 in containers",
		value: func(c *config) string { return c.Host }},
	{name: "TASKMAN_ALLOWED_HOSTS", group: configGroupServer,
		defText: "by bind address",
		help:    "comma list of accepted Host headers (others get 403); default: loopback names on a loopback bind, else any",
		value:   func(c *config) string { return strings.Join(c.AllowedHosts, ",") }},
	{name: "TASKMAN_ALLOWED_ORIGINS", group: configGroupServer,
		defText: "loopback only",
		help:    "comma list of extra accepted Origin values; a request with another Origin gets 403",
		value:   func(c *config) string { return strings.Join(c.AllowedOrigins, ",") }},
	{name: "TASKMAN_AUTH_TOKEN", group: configGroupServer,
		defText: "unset (no auth)",
		help:    "when set, HTTP MCP requests need Authorization: Bearer <token>",
		value:   func(c *config) string { return c.AuthToken.String() }},
	{name: "TASKMAN_AUTH_METRICS", group: configGroupServer, def: "false",
		help:  "true: /metrics needs the token too (health probes stay open for the orchestrator)",
		value: func(c *config) string { return strconv.FormatBool(c.AuthMetrics) }},
	// Every toolset by default, so a client of the old server sees the
	// tools it saw.
	{name: "TASKMAN_TOOLSETS", group: configGroupServer, def: "all",
		help:  "comma list of the toolsets offered: " + strings.Join(toolsetNames, ", ") + ", or all",
		value: func(c *config) string { return strings.Join(c.Toolsets, ",") }},
	{name: "TASKMAN_READ_ONLY", group: configGroupServer, def: "false",
		help:  "true: offer only the tools that change nothing; a call to any other is refused",
		value: func(c *config) string { return strconv.FormatBool(c.ReadOnly) }},
	{name: "TASKMAN_OPS_ADDR", group: configGroupServer,
		help:  "stdio only: host:port of a side listener for /metrics and /health/*, e.g. 127.0.0.1:9464",
		value: func(c *config) string { return c.OpsAddr }},
	// 30 minutes outlasts a person's pause between prompts but frees the
	// sessions of clients that vanished without closing them.
	{name: "TASKMAN_SESSION_IDLE_TIMEOUT_MS", group: configGroupServer, def: "1800000",
		help:  "close a legacy MCP session idle this long (ms)",
		value: func(c *config) string { return configMillis(c.SessionIdleTimeout) }},
	// 1000 sessions of a few kilobytes each bound memory far below the
	// machine's while exceeding any real deployment's client count.
	{name: "TASKMAN_MAX_SESSIONS", group: configGroupServer, def: "1000",
		help:  "concurrent MCP sessions; a new one replaces the least recently used idle one, 503 only if all are busy",
		value: func(c *config) string { return strconv.Itoa(c.MaxSessions) }},
	// 4 MiB holds the largest bulk tool call by a wide margin.
	{name: "TASKMAN_MAX_REQUEST_BYTES", group: configGroupServer, def: "4194304",
		help:  "largest HTTP body or stdio line (413 / JSON-RPC error past it), 1024..1073741824",
		value: func(c *config) string { return strconv.FormatInt(c.MaxRequestBytes, 10) }},
	// 32 bodies of the default 4 MiB are 128 MiB at the worst, half the
	// deploy manifest's memory limit, and 32 calls at once is more than
	// one replica's backend serves usefully.
	{name: "TASKMAN_MAX_IN_FLIGHT", group: configGroupServer, def: "32",
		help:  "HTTP MCP requests served at once; more get 503 with Retry-After",
		value: func(c *config) string { return strconv.Itoa(c.MaxInFlight) }},
	{name: "NODE_ENV", group: configGroupServer, def: "development",
		help:  "development, test or production; production changes the tracing defaults",
		value: func(c *config) string { return c.Env }},

	{name: "TASK_MANAGER_API_ENDPOINT", group: configGroupBackend,
		defText: "unset: embedded",
		help:    "http(s) base URL of the Task Manager API, e.g. http://localhost:3001/api/v1",
		value:   func(c *config) string { return configRedactURL(c.BackendURL) }},
	{name: "TASKMAN_DATA_FILE", group: configGroupBackend,
		defText: "unset: in memory",
		help:    "embedded backend only: JSON file to persist tasks to",
		value:   func(c *config) string { return c.DataFile }},
	// auto: a new user points at either backend and nothing else is set.
	{name: "TASKMAN_BACKEND_DIALECT", group: configGroupBackend, def: "auto",
		help:  "auto (ask the backend at start), legacy or taskman-v2: the contract the backend speaks",
		value: func(c *config) string { return string(c.BackendDialect) }},
	// TaskMan-v2 requires an owner on every task; the server is a fair
	// default for tasks an assistant creates without naming one.
	{name: "TASKMAN_DEFAULT_OWNER", group: configGroupBackend, def: "taskman-mcp",
		help:  "taskman-v2 only: owner of a task created without one (1..100 characters)",
		value: func(c *config) string { return c.DefaultOwner }},
	// 30 s per attempt: the old server's value; a healthy API answers in
	// milliseconds, a stuck one should not hold a tool call for minutes.
	{name: "BACKEND_TIMEOUT_MS", group: configGroupBackend, def: "30000",
		help:  "timeout of one backend attempt (ms)",
		value: func(c *config) string { return configMillis(c.BackendTimeout) }},
	// 3 retries ride out a restart of the API without hiding an outage.
	{name: "BACKEND_MAX_RETRIES", group: configGroupBackend, def: "3",
		help:  "extra attempts for idempotent backend calls, 0..10",
		value: func(c *config) string { return strconv.Itoa(c.BackendMaxRetries) }},
	// 1 s first backoff step: the old server's value.
	{name: "BACKEND_RETRY_DELAY_MS", group: configGroupBackend, def: "1000",
		help:  "first retry backoff step (ms)",
		value: func(c *config) string { return configMillis(c.BackendRetryDelay) }},

	{name: "LOG_LEVEL", group: configGroupLogging, def: "info",
		help:  "trace, debug, info, warn, error or fatal (any case)",
		value: func(c *config) string { return configLevelName(c.LogLevel) }},
	{name: "LOG_FORMAT", group: configGroupLogging, def: "json",
		help:  "json, or pretty for human-readable text",
		value: func(c *config) string { return c.LogFormat }},
	{name: "TASKMAN_DEBUG", group: configGroupLogging, def: "false",
		help:  "true forces LOG_LEVEL=debug (trace stays trace)",
		value: func(c *config) string { return strconv.FormatBool(c.logDebug) }},

	{name: "METRICS_ENABLED", alias: "ENABLE_METRICS", group: configGroupMetrics, def: "true",
		help:  "serve Prometheus metrics at /metrics",
		value: func(c *config) string { return strconv.FormatBool(c.MetricsEnabled) }},

	{name: "TRACING_ENABLED", alias: "ENABLE_TRACING", group: configGroupTracing, def: "false",
		defText: "false; production: true",
		help:    "export spans over OTLP/HTTP",
		value:   func(c *config) string { return strconv.FormatBool(c.OTel.Enabled) }},
	// 4318 is the OTLP/HTTP port of every OpenTelemetry collector.
	{name: "OTEL_EXPORTER_OTLP_ENDPOINT", group: configGroupTracing, def: "http://localhost:4318/v1/traces",
		help:  "collector URL; a base URL gets /v1/traces appended",
		value: func(c *config) string { return configRedactURL(c.OTel.Endpoint) }},
	{name: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", group: configGroupTracing,
		help:  "traces URL used as is; wins over OTEL_EXPORTER_OTLP_ENDPOINT",
		value: func(c *config) string { return configRedactURL(c.OTel.TracesEndpoint) }},
	{name: "OTEL_EXPORTER_OTLP_HEADERS", group: configGroupTracing,
		help:  "export headers key=value,key2=value2 (values URL-encoded; treated as secrets)",
		value: func(c *config) string { return configFormatSecretPairs(c.OTel.Headers) }},
	{name: "OTEL_SERVICE_NAME", group: configGroupTracing, def: "taskman-mcp",
		help:  "service.name of the exported spans",
		value: func(c *config) string { return c.OTel.ServiceName }},
	{name: "OTEL_RESOURCE_ATTRIBUTES", group: configGroupTracing,
		help:  "extra resource attributes key=value,key2=value2 (values URL-encoded)",
		value: func(c *config) string { return configFormatPairs(c.OTel.ResourceAttributes) }},
	{name: "OTEL_TRACES_SAMPLER", group: configGroupTracing,
		help:  "an OTel sampler name; unset: parentbased_traceidratio with OTEL_SAMPLE_RATE",
		value: func(c *config) string { return c.OTel.Sampler }},
	{name: "OTEL_TRACES_SAMPLER_ARG", group: configGroupTracing,
		help:  "sampler argument; for the traceidratio samplers a ratio 0..1",
		value: func(c *config) string { return c.OTel.SamplerArg }},
	{name: "OTEL_SDK_DISABLED", group: configGroupTracing, def: "false",
		help:  "true turns tracing off whatever else says",
		value: func(c *config) string { return strconv.FormatBool(c.otelSDKDisabled) }},
	// Production samples 10% (the old server's value) to bound export cost;
	// elsewhere every trace is kept because volumes are small.
	{name: "OTEL_SAMPLE_RATE", group: configGroupTracing, def: "1.0",
		defText: "1.0; production: 0.1",
		help:    "fraction of traces sampled, 0..1",
		value:   func(c *config) string { return strconv.FormatFloat(c.OTel.SampleRate, 'g', -1, 64) }},
	{name: "OTEL_DEBUG", group: configGroupTracing, def: "false",
		help:  "log exporter errors and span counts at debug",
		value: func(c *config) string { return strconv.FormatBool(c.OTel.Debug) }},

	// The breaker defaults are the old server's (opossum's) values.
	{name: "CIRCUIT_BREAKER_ENABLED", group: configGroupBreaker, def: "true",
		help:  "stop calling a backend operation that keeps failing",
		value: func(c *config) string { return strconv.FormatBool(c.Breaker.Enabled) }},
	{name: "CIRCUIT_BREAKER_ERROR_THRESHOLD", group: configGroupBreaker, def: "50",
		help:  "percent of failed calls in the window that opens the circuit, 1..100",
		value: func(c *config) string { return strconv.Itoa(c.Breaker.ErrorThreshold) }},
	{name: "CIRCUIT_BREAKER_RESET_TIMEOUT_MS", group: configGroupBreaker, def: "30000",
		help:  "open circuit turns half-open after this (ms)",
		value: func(c *config) string { return configMillis(c.Breaker.ResetTimeout) }},
	{name: "CIRCUIT_BREAKER_VOLUME_THRESHOLD", group: configGroupBreaker, def: "10",
		help:  "minimum calls in the window before the error rate counts",
		value: func(c *config) string { return strconv.Itoa(c.Breaker.VolumeThreshold) }},
	{name: "CIRCUIT_BREAKER_WINDOW_MS", group: configGroupBreaker, def: "10000",
		help:  "rolling window length (ms)",
		value: func(c *config) string { return configMillis(c.Breaker.Window) }},

	{name: "FALLBACK_CACHE_ENABLED", group: configGroupCache, def: "true",
		help:  "serve stale reads when the backend fails",
		value: func(c *config) string { return strconv.FormatBool(c.Cache.Enabled) }},
	// 1000 entries of one read answer each: a few megabytes at most.
	{name: "FALLBACK_CACHE_MAX_SIZE", group: configGroupCache, def: "1000",
		help:  "most cached entries",
		value: func(c *config) string { return strconv.Itoa(c.Cache.MaxSize) }},
	// 5 minutes: stale enough to ride out a backend restart, fresh enough
	// that a person is not misled for long.
	{name: "FALLBACK_CACHE_TTL_MS", group: configGroupCache, def: "300000",
		help:  "how stale a served entry may be (ms)",
		value: func(c *config) string { return configMillis(c.Cache.TTL) }},

	{name: "HEALTH_CHECK_ENABLED", group: configGroupHealth, def: "true",
		help:  "serve /health/*",
		value: func(c *config) string { return strconv.FormatBool(c.HealthEnabled) }},
	// False: the backend is shared, so a readiness that fails on it takes
	// every replica out of the Service at once (docs/observability.md).
	{name: "TASKMAN_READY_REQUIRES_BACKEND", group: configGroupHealth, def: "false",
		help:  "true: /health/ready answers 503 while the backend is unreachable (all replicas leave the Service at once)",
		value: func(c *config) string { return strconv.FormatBool(c.ReadyNeedsBackend) }},
	// 30 s: the old server's value and Kubernetes' default
	// terminationGracePeriodSeconds, after which SIGKILL comes anyway; a
	// longer drain needs that raised too.
	{name: "GRACEFUL_SHUTDOWN_TIMEOUT_MS", group: configGroupHealth, def: "30000",
		help:  "the whole shutdown on SIGINT/SIGTERM, span flush included (ms)",
		value: func(c *config) string { return configMillis(c.ShutdownTimeout) }},
}

// configError lists every problem found in the configuration, one line
// each, sorted by variable name (problems in the .env file itself first, in
// line order).
type configError struct{ problems []string }

// Error returns the problems, one per line.
func (e *configError) Error() string { return strings.Join(e.problems, "\n") }

// Problems returns a copy of the problem lines.
func (e *configError) Problems() []string { return slices.Clone(e.problems) }

// configProblem is one problem line with the variable it is about ("" for a
// problem with the .env file itself), which is its sort key.
type configProblem struct {
	name string
	text string
}

// configParser reads variables from the environment, falling back to the
// .env file and then to configVars' defaults, and collects problems.
type configParser struct {
	getenv   func(string) string
	dotenv   map[string]string    // the .env file's variables, nil if none
	vars     map[string]configVar // configVars by name
	problems []configProblem
}

// loadConfig builds the configuration from getenv and the .env file at
// dotenvPath ("" or a missing file: none). A variable counts as set when its
// value, trimmed of spaces, is not empty; the environment wins over the file,
// and a primary name over its alias. Every problem is collected; if there
// is any, loadConfig returns a *configError listing them all.
func loadConfig(getenv func(string) string, dotenvPath string) (*config, error) {
	p := &configParser{getenv: getenv, vars: make(map[string]configVar, len(configVars))}
	for _, v := range configVars {
		p.vars[v.name] = v
	}
	if dotenvPath != "" {
		p.readDotEnv(dotenvPath)
	}

	c := &config{}
	c.Env = p.choice("NODE_ENV", "development", "test", "production")
	production := c.Env == "production"

	c.Transport = p.choice("TASKMAN_MCP_TRANSPORT", "stdio", "http")
	c.Host = p.host("HOST")
	c.Port = int(p.integer("PORT", 1, 65535))
	c.AllowedHosts = p.list("TASKMAN_ALLOWED_HOSTS")
	if c.AllowedHosts == nil && p.isSet("TASKMAN_ALLOWED_HOSTS") {
		// Only commas: an empty allow-list would refuse every request.
		v, from, _ := p.lookup("TASKMAN_ALLOWED_HOSTS")
		p.bad(from, "must be a comma-separated list of at least one host name", v)
	}
	c.AllowedOrigins = p.list("TASKMAN_ALLOWED_ORIGINS")
	for i, o := range c.AllowedOrigins {
		c.AllowedOrigins[i] = strings.TrimRight(o, "/")
	}
	token, _, _ := p.lookup("TASKMAN_AUTH_TOKEN")
	c.AuthToken = secret(token)
	c.AuthMetrics = p.boolean("TASKMAN_AUTH_METRICS")
	c.OpsAddr = p.hostPort("TASKMAN_OPS_ADDR")
	c.Toolsets = p.toolsets("TASKMAN_TOOLSETS")
	c.ReadOnly = p.boolean("TASKMAN_READ_ONLY")
	c.SessionIdleTimeout = p.millis("TASKMAN_SESSION_IDLE_TIMEOUT_MS", 1)
	c.MaxSessions = int(p.integer("TASKMAN_MAX_SESSIONS", 1, configNoMax))
	c.MaxRequestBytes = p.integer("TASKMAN_MAX_REQUEST_BYTES", configMinRequestBytes, configMaxRequestBytes)
	c.MaxInFlight = int(p.integer("TASKMAN_MAX_IN_FLIGHT", 1, configNoMax))

	c.BackendURL = strings.TrimRight(p.url("TASK_MANAGER_API_ENDPOINT"), "/")
	c.DataFile, _, _ = p.lookup("TASKMAN_DATA_FILE")
	if c.DataFile != "" && p.isSet("TASK_MANAGER_API_ENDPOINT") {
		p.bad("TASKMAN_DATA_FILE", "only used by the embedded backend; unset it or TASK_MANAGER_API_ENDPOINT", c.DataFile)
	}
	c.BackendDialect = dialect(p.choice("TASKMAN_BACKEND_DIALECT", dialectNames...))
	if c.BackendDialect == dialectTaskmanV2 && !p.isSet("TASK_MANAGER_API_ENDPOINT") {
		p.bad("TASKMAN_BACKEND_DIALECT", "needs TASK_MANAGER_API_ENDPOINT (the embedded backend always speaks legacy)", string(c.BackendDialect))
	}
	c.DefaultOwner, _, _ = p.lookup("TASKMAN_DEFAULT_OWNER")
	if n := len([]rune(c.DefaultOwner)); n < 1 || n > maxPerson {
		p.bad("TASKMAN_DEFAULT_OWNER", "must be 1 to 100 characters (TaskMan-v2's owner limit)", c.DefaultOwner)
	}
	c.BackendTimeout = p.millis("BACKEND_TIMEOUT_MS", 1)
	c.BackendMaxRetries = int(p.integer("BACKEND_MAX_RETRIES", 0, configMaxRetries))
	c.BackendRetryDelay = p.millis("BACKEND_RETRY_DELAY_MS", 0)

	c.LogLevel = p.level("LOG_LEVEL")
	c.logDebug = p.boolean("TASKMAN_DEBUG")
	if c.logDebug && c.LogLevel > slog.LevelDebug {
		c.LogLevel = slog.LevelDebug
	}
	c.LogFormat = p.choice("LOG_FORMAT", "json", "pretty")
	c.MetricsEnabled = p.boolean("METRICS_ENABLED")
	c.HealthEnabled = p.boolean("HEALTH_CHECK_ENABLED")
	c.ReadyNeedsBackend = p.boolean("TASKMAN_READY_REQUIRES_BACKEND")
	c.ShutdownTimeout = p.millis("GRACEFUL_SHUTDOWN_TIMEOUT_MS", 1)

	o := &c.OTel
	o.Enabled = p.boolean("TRACING_ENABLED")
	if production && !p.isSet("TRACING_ENABLED") {
		o.Enabled = true
	}
	c.otelSDKDisabled = p.boolean("OTEL_SDK_DISABLED")
	if c.otelSDKDisabled {
		o.Enabled = false
	}
	o.Endpoint = p.url("OTEL_EXPORTER_OTLP_ENDPOINT")
	o.TracesEndpoint = p.url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	if headers := p.pairs("OTEL_EXPORTER_OTLP_HEADERS", true); headers != nil {
		o.Headers = make(map[string]secret, len(headers))
		for k, v := range headers {
			o.Headers[k] = secret(v)
		}
	}
	o.ServiceName, _, _ = p.lookup("OTEL_SERVICE_NAME")
	o.ResourceAttributes = p.pairs("OTEL_RESOURCE_ATTRIBUTES", false)
	if p.isSet("OTEL_TRACES_SAMPLER") {
		o.Sampler = p.choice("OTEL_TRACES_SAMPLER", "always_on", "always_off", "traceidratio",
			"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio")
	}
	o.SamplerArg, _, _ = p.lookup("OTEL_TRACES_SAMPLER_ARG")
	if o.SamplerArg != "" && strings.HasSuffix(o.Sampler, "traceidratio") {
		if _, ok := configParseRatio(o.SamplerArg); !ok {
			p.bad("OTEL_TRACES_SAMPLER_ARG", "must be a number from 0 to 1 for sampler "+o.Sampler, o.SamplerArg)
		}
	}
	o.SampleRate = p.ratio("OTEL_SAMPLE_RATE")
	if production && !p.isSet("OTEL_SAMPLE_RATE") {
		o.SampleRate = 0.1
	}
	o.Debug = p.boolean("OTEL_DEBUG")

	b := &c.Breaker
	b.Enabled = p.boolean("CIRCUIT_BREAKER_ENABLED")
	b.ErrorThreshold = int(p.integer("CIRCUIT_BREAKER_ERROR_THRESHOLD", 1, 100))
	b.ResetTimeout = p.millis("CIRCUIT_BREAKER_RESET_TIMEOUT_MS", 1)
	b.VolumeThreshold = int(p.integer("CIRCUIT_BREAKER_VOLUME_THRESHOLD", 0, configNoMax))
	b.Window = p.millis("CIRCUIT_BREAKER_WINDOW_MS", 1)

	c.Cache.Enabled = p.boolean("FALLBACK_CACHE_ENABLED")
	c.Cache.MaxSize = int(p.integer("FALLBACK_CACHE_MAX_SIZE", 1, configNoMax))
	c.Cache.TTL = p.millis("FALLBACK_CACHE_TTL_MS", 1)

	if len(p.problems) > 0 {
		slices.SortStableFunc(p.problems, func(a, b configProblem) int { return strings.Compare(a.name, b.name) })
		e := &configError{problems: make([]string, len(p.problems))}
		for i, pr := range p.problems {
			e.problems[i] = pr.text
		}
		return nil, e
	}
	return c, nil
}

// embedded reports whether the in-process backend serves the tools.
func (c *config) embedded() bool { return c.BackendURL == "" }

// lookup returns the variable's value (or its default from configVars when
// unset), the name it was found under (for messages), and whether it was
// set. The environment is searched before the .env file, the primary name
// before the alias.
func (p *configParser) lookup(name string) (value, from string, set bool) {
	v := p.vars[name]
	names := []string{name}
	if v.alias != "" {
		names = append(names, v.alias)
	}
	for _, n := range names {
		if s := strings.TrimSpace(p.getenv(n)); s != "" {
			return s, n, true
		}
	}
	for _, n := range names {
		if s := strings.TrimSpace(p.dotenv[n]); s != "" {
			return s, n, true
		}
	}
	return v.def, name, false
}

// isSet reports whether the variable or its alias was given.
func (p *configParser) isSet(name string) bool {
	_, _, set := p.lookup(name)
	return set
}

// bad records a problem: the variable, the rule it breaks, the value given.
func (p *configParser) bad(name, rule, value string) {
	p.problems = append(p.problems, configProblem{name: name, text: fmt.Sprintf("%s: %s, got %q", name, rule, value)})
}

// choice returns the variable's value, lowercased, if it is one of allowed.
func (p *configParser) choice(name string, allowed ...string) string {
	v, from, _ := p.lookup(name)
	if lv := strings.ToLower(v); slices.Contains(allowed, lv) {
		return lv
	}
	p.bad(from, "must be "+orList(allowed), v)
	return ""
}

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// boolean parses true/false/1/0/yes/no in any case.
func (p *configParser) boolean(name string) bool {
	v, from, _ := p.lookup(name)
	switch strings.ToLower(v) {
	case "true", "1", "yes":
		return true
	case "false", "0", "no":
		return false
	}
	p.bad(from, "must be true or false (or 1/0, yes/no)", v)
	return false
}

// integer parses a base-10 integer in [lo, hi] (hi configNoMax: no bound).
func (p *configParser) integer(name string, lo, hi int64) int64 {
	v, from, _ := p.lookup(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err == nil && n >= lo && n <= hi {
		return n
	}
	if hi == configNoMax {
		p.bad(from, fmt.Sprintf("must be an integer of at least %d", lo), v)
	} else {
		p.bad(from, fmt.Sprintf("must be an integer from %d to %d", lo, hi), v)
	}
	return 0
}

// millis parses a whole number of milliseconds, at least lo, that fits a
// time.Duration.
func (p *configParser) millis(name string, lo int64) time.Duration {
	v, from, _ := p.lookup(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err == nil && n >= lo && n <= configMaxMillis {
		return time.Duration(n) * time.Millisecond
	}
	p.bad(from, fmt.Sprintf("must be a whole number of milliseconds from %d to %d", lo, configMaxMillis), v)
	return 0
}

// ratio parses a number from 0 to 1.
func (p *configParser) ratio(name string) float64 {
	v, from, _ := p.lookup(name)
	f, ok := configParseRatio(v)
	if !ok {
		p.bad(from, "must be a number from 0 to 1", v)
	}
	return f
}

// configParseRatio parses a finite number from 0 to 1.
func configParseRatio(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f >= 0 && f <= 1) {
		return 0, false
	}
	return f, true
}

// level parses a log level name in any case ("warning" means warn).
func (p *configParser) level(name string) slog.Level {
	v, from, _ := p.lookup(name)
	switch strings.ToLower(v) {
	case "trace":
		return levelTrace
	case "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	case "fatal":
		return levelFatal
	}
	p.bad(from, "must be trace, debug, info, warn, error or fatal", v)
	return slog.LevelInfo
}

// configLevelName is the LOG_LEVEL spelling of l.
func configLevelName(l slog.Level) string {
	switch l {
	case levelTrace:
		return "trace"
	case levelFatal:
		return "fatal"
	}
	return strings.ToLower(l.String())
}

// list splits a comma list, trimming items and dropping empty ones; nil
// when nothing is left.
func (p *configParser) list(name string) []string {
	v, _, _ := p.lookup(name)
	var items []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// toolsets returns the toolsets a comma list names, in toolsetNames'
// order; "all" names every one.
func (p *configParser) toolsets(name string) []string {
	v, from, _ := p.lookup(name)
	named := p.list(name)
	for i, n := range named {
		named[i] = strings.ToLower(n)
	}
	choices := orList(append(slices.Clone(toolsetNames), "all"))
	if len(named) == 0 {
		p.bad(from, "must name at least one toolset ("+choices+")", v)
		return nil
	}
	for _, n := range named {
		if n != "all" && !slices.Contains(toolsetNames, n) {
			p.bad(from, "must be a comma list of "+choices, v)
			return nil
		}
	}
	if slices.Contains(named, "all") {
		return slices.Clone(toolsetNames)
	}
	return slices.DeleteFunc(slices.Clone(toolsetNames), func(ts string) bool { return !slices.Contains(named, ts) })
}

// host accepts a host name or an IP address without a port (an IPv6
// address may be bracketed; the brackets are dropped).
func (p *configParser) host(name string) string {
	v, from, _ := p.lookup(name)
	h := v
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if net.ParseIP(h) != nil || configValidHostName(h) {
		return h
	}
	p.bad(from, "must be a host name or IP address, without port", v)
	return ""
}

// configValidHostName reports whether s is made of DNS name characters
// (letters, digits, '-', '.', and '_' seen in container names).
func configValidHostName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '-' || c == '.' || c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// hostPort accepts host:port with a port from 1 to 65535 (the host may be
// empty, meaning every interface); "" when unset.
func (p *configParser) hostPort(name string) string {
	v, from, _ := p.lookup(name)
	if v == "" {
		return ""
	}
	if _, port, err := net.SplitHostPort(v); err == nil && configValidPort(port) {
		return v
	}
	p.bad(from, "must be host:port with a port from 1 to 65535", v)
	return ""
}

// configValidPort reports whether s is a decimal port from 1 to 65535.
func configValidPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

// url accepts an absolute http or https URL with a host and no query or
// fragment; "" when unset.
func (p *configParser) url(name string) string {
	v, from, _ := p.lookup(name)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != "" &&
		u.Opaque == "" && u.RawQuery == "" && !u.ForceQuery && u.Fragment == "" &&
		(u.Port() == "" || configValidPort(u.Port())) {
		return v
	}
	p.bad(from, "must be an absolute http:// or https:// URL with a host and no query or fragment", configRedactURL(v))
	return ""
}

// configRedactURL hides a URL's user information, the part of an endpoint
// URL that may be a secret: a user name alone is often a token
// (https://TOKEN@host), so the whole of it goes, not only a password. A
// string that does not parse as a URL is not shown at all, since where its
// secret part would be cannot be told.
func configRedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return configRedacted + " (not a parseable URL)"
	}
	if u.User == nil {
		return s
	}
	u.User = nil
	scheme, rest, _ := strings.Cut(u.String(), "//")
	return scheme + "//" + configRedacted + "@" + rest
}

// pairs parses the OTel "key=value,key2=value2" format (values
// percent-decoded, both sides trimmed, empty entries skipped); nil when
// unset. For secrets (isSecret) the value given is not echoed in problems,
// and keys must be valid HTTP header names.
func (p *configParser) pairs(name string, isSecret bool) map[string]string {
	v, from, _ := p.lookup(name)
	if v == "" {
		return nil
	}
	shown := v
	if isSecret {
		shown = configRedacted
	}
	m := make(map[string]string)
	i := 0
	for entry := range strings.SplitSeq(v, ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		i++
		k, val, ok := strings.Cut(entry, "=")
		k = strings.TrimSpace(k)
		var why string
		switch {
		case !ok:
			why = "has no '='"
		case k == "":
			why = "has an empty key"
		case isSecret && !configValidHeaderName(k):
			why = fmt.Sprintf("has %q, not a header name", k)
		}
		if why == "" {
			dec, err := url.PathUnescape(strings.TrimSpace(val))
			if err != nil {
				why = "has a bad %-escape"
			}
			m[k] = strings.TrimSpace(dec)
		}
		if why != "" {
			p.bad(from, fmt.Sprintf("must be comma-separated key=value pairs with URL-encoded values; entry %d %s", i, why), shown)
			return nil
		}
	}
	return m
}

// configValidHeaderName reports whether s is an HTTP token (RFC 9110
// section 5.6.2), the syntax of a header field name.
func configValidHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// configFormatPairs is the inverse of pairs: sorted key=value entries with
// values percent-encoded.
func configFormatPairs(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + url.PathEscape(m[k]))
	}
	return b.String()
}

// configFormatSecretPairs writes secret pairs with every value redacted.
func configFormatSecretPairs(m map[string]secret) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + m[k].String())
	}
	return b.String()
}

// configMillis formats a duration as whole milliseconds.
func configMillis(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
