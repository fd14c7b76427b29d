package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// readDotEnv merges the .env file at path into p.dotenv. A missing file is
// fine; an unreadable or malformed one is a problem.
func (p *configParser) readDotEnv(path string) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		p.problems = append(p.problems, configProblem{text: err.Error()})
		return
	}
	defer f.Close()
	vars, err := parseDotEnv(f, path)
	p.dotenv = vars
	var ce *configError
	switch {
	case errors.As(err, &ce):
		for _, text := range ce.problems {
			p.problems = append(p.problems, configProblem{text: text})
		}
	case err != nil:
		p.problems = append(p.problems, configProblem{text: err.Error()})
	}
}

// parseDotEnv reads a .env file named name (for messages): KEY=value lines,
// an optional "export " prefix, # comments and blank lines. A value may be
// 'single-quoted' (taken literally) or "double-quoted" (\n, \" and \\ are
// escapes, any other backslash is kept); an unquoted value ends at a # that
// follows a space. There is no variable interpolation and no multi-line
// value. It returns the variables of every good line and, if any line is
// malformed, a *configError with one "name:line: reason" problem per line.
func parseDotEnv(r io.Reader, name string) (map[string]string, error) {
	data, err := io.ReadAll(io.LimitReader(r, configDotEnvMaxBytes+1))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) { // the name says which file already
			err = pe.Err
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > configDotEnvMaxBytes {
		return nil, &configError{problems: []string{fmt.Sprintf("%s: larger than %d bytes", name, configDotEnvMaxBytes)}}
	}
	vars := make(map[string]string)
	var problems []string
	for i, line := range strings.Split(string(data), "\n") {
		key, value, err := configParseDotEnvLine(line)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s:%d: %v", name, i+1, err))
			continue
		}
		if key != "" {
			vars[key] = value
		}
	}
	if len(problems) > 0 {
		return vars, &configError{problems: problems}
	}
	return vars, nil
}

// configParseDotEnvLine parses one .env line; key is "" for a blank or
// comment line.
func configParseDotEnvLine(line string) (key, value string, err error) {
	s := strings.TrimLeft(strings.TrimSuffix(line, "\r"), " \t")
	if s == "" || s[0] == '#' {
		return "", "", nil
	}
	if rest, ok := strings.CutPrefix(s, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
		s = strings.TrimLeft(rest, " \t")
	}
	key, v, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", errors.New("expected KEY=value")
	}
	key = strings.TrimRight(key, " \t")
	if !configValidName(key) {
		return "", "", fmt.Errorf("invalid variable name %q", key)
	}
	raw := v
	v = strings.TrimLeft(v, " \t")
	var rest string
	switch {
	case strings.HasPrefix(v, `"`):
		value, rest, ok = configUnquote(v[1:])
		if !ok {
			return "", "", fmt.Errorf("%s: unterminated double-quoted value", key)
		}
	case strings.HasPrefix(v, "'"):
		value, rest, ok = strings.Cut(v[1:], "'")
		if !ok {
			return "", "", fmt.Errorf("%s: unterminated single-quoted value", key)
		}
	default:
		// A # starts a comment only after a blank, so KEY=a#b keeps its #.
		for i := 1; i < len(raw); i++ {
			if raw[i] == '#' && (raw[i-1] == ' ' || raw[i-1] == '\t') {
				raw = raw[:i]
				break
			}
		}
		return key, strings.Trim(raw, " \t\r"), nil
	}
	if rest = strings.TrimLeft(rest, " \t\r"); rest != "" && rest[0] != '#' {
		return "", "", fmt.Errorf("%s: unexpected text after the closing quote", key)
	}
	return key, value, nil
}

// configUnquote decodes a double-quoted .env value after its opening quote,
// returning the value, the text after the closing quote, and false if there
// is no closing quote.
func configUnquote(s string) (value, rest string, ok bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], true
		case '\\':
			if i+1 == len(s) {
				return "", "", false
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case '"', '\\':
				b.WriteByte(s[i])
			default:
				b.WriteByte('\\')
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

// configQuote returns v as a .env value that parseDotEnv reads back as v:
// as is when that is safe, else double-quoted with escapes.
func configQuote(v string) string {
	if !strings.ContainsAny(v, " \t\r\n\"'#\\") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(v) + `"`
}

// configValidName reports whether s is a shell-style variable name.
func configValidName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
