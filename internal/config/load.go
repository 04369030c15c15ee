package config

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/joho/godotenv"
	"go.yaml.in/yaml/v3"
)

// LoadOptions says where Load looks for settings.
type LoadOptions struct {
	// Getenv reads the process environment (main passes os.Getenv). Nil means an empty environment.
	Getenv func(string) string
	// Environ lists the process environment (os.Environ). Optional: when set, GATEHOUSE_* variables
	// that name no setting (typos) are reported by Config.Warnings.
	Environ func() []string
	// ConfigFile is the --config file: YAML (.yaml, .yml) or TOML (.toml). Empty for none.
	ConfigFile string
	// Dir is where the .env files are looked up. Default ".".
	Dir string
	// ReadFile reads the config file, the .env files and the *_FILE secrets. Default os.ReadFile.
	ReadFile func(string) ([]byte, error)
}

// Load builds the configuration from, lowest precedence first: the defaults, the config file,
// .env.<environment>, .env, and the environment variables; then validates it. The environment is
// GATEHOUSE_ENV from the real environment, else env from the config file, else development; .env
// files are read only in development. Every secret setting may instead name a file holding the value
// (GATEHOUSE_DATABASE_URL_FILE, database.url_file). The error lists every problem found, one per
// line, each naming its key.
func Load(opts LoadOptions) (*Config, error) {
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	opts.Dir = cmp.Or(opts.Dir, ".")
	l := &loader{opts: opts}
	return l.load()
}

type loader struct {
	opts     LoadOptions
	problems []error
	warnings []string
}

// layer is one source of values. Sources of variables (environment, .env files) look keys up by
// variable name; a config file looks them up by file key.
type layer struct {
	kind   sourceKind
	path   string                                           // the file, for .env and config files
	lookup func(name string) (string, bool)                 // a present value; empty variables count as absent
	names  func(k *key) (names []string, fileSuffix string) // names of k in this layer, strongest first
}

func variableNames(k *key) ([]string, string) { return append([]string{k.env}, k.aliases...), "_FILE" }
func fileKeyNames(k *key) ([]string, string)  { return []string{k.file}, "_file" }

// value is a key's value as found in a layer, not yet parsed.
type value struct {
	text     string
	fromFile bool // text is the path of a file holding the value (a *_FILE setting)
	src      source
}

func (l *loader) problem(key string, err error) {
	l.problems = append(l.problems, &problem{key: key, err: err})
}

func (l *loader) load() (*Config, error) {
	var layers []layer
	fileEnv := ""
	if l.opts.ConfigFile != "" {
		fl, err := l.configFile(l.opts.ConfigFile)
		if err != nil {
			return nil, err
		}
		layers = append(layers, fl)
		fileEnv, _ = fl.lookup("env")
	}

	env := strings.ToLower(cmp.Or(strings.TrimSpace(l.opts.Getenv("GATEHOUSE_ENV")), strings.TrimSpace(fileEnv), EnvDevelopment))
	for _, name := range []string{".env." + env, ".env"} {
		path := filepath.Join(l.opts.Dir, name)
		if env != EnvDevelopment {
			if _, err := l.opts.ReadFile(path); err == nil {
				l.warnings = append(l.warnings, fmt.Sprintf("%s is ignored: .env files are read only in development", path))
			}
			continue
		}
		if dl, ok := l.dotenv(path, env); ok {
			layers = append(layers, dl)
		}
	}
	layers = append(layers, layer{
		kind: fromEnv,
		lookup: func(name string) (string, bool) {
			v := l.opts.Getenv(name)
			return v, strings.TrimSpace(v) != ""
		},
		names: variableNames,
	})
	l.unknownVariables()

	c := Default()
	c.sources = make(map[string]source, len(keyTable))
	for i := range keyTable {
		k := &keyTable[i]
		var found *value
		for _, ly := range layers {
			if v, ok := l.resolve(k, ly); ok {
				found = &v
			}
		}
		if found == nil {
			if env == EnvProduction && k.prodDef != "" {
				if err := k.set(c, k.prodDef); err != nil {
					panic(fmt.Sprintf("config: production default of %s: %v", k.env, err))
				}
				c.sources[k.env] = source{kind: fromProductionDefault}
			}
			continue
		}
		c.sources[k.env] = found.src
		text := found.text
		if found.fromFile {
			data, err := l.opts.ReadFile(text)
			if err != nil {
				l.problem(c.label(k), fmt.Errorf("cannot read the secret file: %w", err))
				continue
			}
			if text = strings.TrimSpace(string(data)); text == "" {
				l.problem(c.label(k), fmt.Errorf("the secret file %s is empty", found.text))
				continue
			}
		}
		if err := k.set(c, strings.TrimSpace(text)); err != nil {
			l.problem(c.label(k), err)
		}
	}
	c.warnings = l.warnings

	if err := c.Validate(); err != nil {
		l.problems = append(l.problems, err)
	}
	if len(l.problems) > 0 {
		return nil, errors.Join(l.problems...)
	}
	return c, nil
}

// resolve finds k in one layer. The primary variable beats the aliases; a value and its _FILE form
// side by side are an error.
func (l *loader) resolve(k *key, ly layer) (value, bool) {
	names, suffix := ly.names(k)
	for _, name := range names {
		text, hasText := ly.lookup(name)
		path, hasPath := "", false
		if k.secret {
			path, hasPath = ly.lookup(name + suffix)
		}
		src := source{kind: ly.kind, name: name, path: ly.path}
		switch {
		case hasText && hasPath:
			l.problem(src.label(k), fmt.Errorf("both %s and %s%s are set; set only one", name, name, suffix))
			return value{}, false
		case hasText:
			return value{text: text, src: src}, true
		case hasPath:
			src.name += suffix
			return value{text: strings.TrimSpace(path), fromFile: true, src: src}, true
		}
	}
	return value{}, false
}

// label names a value found in this source in messages.
func (s source) label(k *key) string {
	c := Config{sources: map[string]source{k.env: s}}
	return c.label(k)
}

// dotenv reads one .env file; a missing file is no error.
func (l *loader) dotenv(path, env string) (layer, bool) {
	data, err := l.opts.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return layer{}, false
	}
	if err != nil {
		l.problem(path, err)
		return layer{}, false
	}
	vars, err := godotenv.UnmarshalBytes(data)
	if err != nil {
		l.problem(path, dotenvError(data, err))
		return layer{}, false
	}
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !strings.HasPrefix(name, "GATEHOUSE_") || knownVariable(name) {
			continue // other programs' variables (docker compose) may share the file
		}
		l.problem(name+" in "+path, unknownVariable(name))
	}
	if v := strings.TrimSpace(vars["GATEHOUSE_ENV"]); v != "" && strings.ToLower(v) != env {
		l.problem("GATEHOUSE_ENV in "+path, fmt.Errorf(
			"cannot change the environment to %q: .env files are read only in development; set GATEHOUSE_ENV in the environment or the config file", v))
		delete(vars, "GATEHOUSE_ENV")
	}
	return layer{
		kind: fromDotenv,
		path: path,
		lookup: func(name string) (string, bool) {
			v, ok := vars[name]
			return v, ok && strings.TrimSpace(v) != ""
		},
		names: variableNames,
	}, true
}

var dotenvBadName = regexp.MustCompile(`^unexpected character ("(?:[^"\\]|\\.)*") in variable name near ("(?:[^"\\]|\\.)*")$`)

// dotenvError rewrites a .env parse error without the text godotenv quotes, which is the rest of
// the file and may hold secrets, giving the line number instead.
func dotenvError(data []byte, err error) error {
	lineAt := func(offset int) int { return strings.Count(string(data[:max(0, min(offset, len(data)))]), "\n") + 1 }
	msg := err.Error()
	if m := dotenvBadName.FindStringSubmatch(msg); m != nil {
		if rest, uerr := strconv.Unquote(m[2]); uerr == nil {
			return fmt.Errorf("line %d: a variable name contains %s (write NAME=value)", lineAt(len(data)-len(rest)), m[1])
		}
	}
	if rest, ok := strings.CutPrefix(msg, "unterminated quoted value "); ok {
		if i := strings.Index(string(data), rest); i >= 0 {
			return fmt.Errorf("line %d: a quoted value is not closed", lineAt(i))
		}
		return errors.New("a quoted value is not closed")
	}
	return errors.New("cannot be parsed (write one NAME=value per line)")
}

// knownVariable reports whether name is a setting's variable, alias, or secret _FILE form.
func knownVariable(name string) bool {
	for i := range keyTable {
		k := &keyTable[i]
		for _, n := range append([]string{k.env}, k.aliases...) {
			if name == n || (k.secret && name == n+"_FILE") {
				return true
			}
		}
	}
	return false
}

func unknownVariable(name string) error {
	if base, ok := strings.CutSuffix(name, "_FILE"); ok {
		if k := keyByEnv(base); k != nil {
			return fmt.Errorf("%s is not a secret and cannot be read from a file; set %s itself", base, base)
		}
	}
	var known []string
	for i := range keyTable {
		known = append(known, keyTable[i].env)
	}
	if s := closest(name, known); s != "" {
		return fmt.Errorf("unknown setting (did you mean %s?)", s)
	}
	return errors.New("unknown setting (docs/configuration.md lists them all)")
}

// kubernetesServiceLink matches the variables Kubernetes injects for a Service named gatehouse or
// gatehouse-*, which are no typos.
var kubernetesServiceLink = regexp.MustCompile(`^GATEHOUSE(_[A-Z0-9]+)*_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT_[0-9]+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)$`)

// unknownVariables warns about GATEHOUSE_* environment variables that name no setting.
func (l *loader) unknownVariables() {
	if l.opts.Environ == nil {
		return
	}
	var found []string
	for _, kv := range l.opts.Environ() {
		name, v, _ := strings.Cut(kv, "=")
		switch {
		case !strings.HasPrefix(name, "GATEHOUSE_"), knownVariable(name),
			strings.HasPrefix(name, "GATEHOUSE_TEST_"), kubernetesServiceLink.MatchString(name),
			strings.HasSuffix(name, "_PORT") && strings.Contains(v, "://"): // Kubernetes: GATEHOUSE_PORT=tcp://…
			continue
		}
		found = append(found, fmt.Sprintf("%s is ignored: %v", name, unknownVariable(name)))
	}
	sort.Strings(found)
	l.warnings = append(l.warnings, found...)
}

// configFile reads a YAML or TOML file into a layer keyed by dotted file keys. A file that cannot be
// read or parsed stops Load; unknown keys are reported with the other problems.
func (l *loader) configFile(path string) (layer, error) {
	data, err := l.opts.ReadFile(path)
	if err != nil {
		return layer{}, fmt.Errorf("config file: %w", err)
	}
	var tree map[string]any
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".yaml", ".yml":
		err = yaml.Unmarshal(data, &tree)
	case ".toml":
		_, err = toml.Decode(string(data), &tree)
	default:
		return layer{}, fmt.Errorf("config file %s: unsupported extension %q (use .yaml, .yml or .toml)", path, ext)
	}
	if err != nil {
		return layer{}, fmt.Errorf("config file %s: %w", path, err)
	}
	values := map[string]string{}
	l.flatten(path, "", tree, values)
	return layer{
		kind: fromFile,
		path: path,
		lookup: func(name string) (string, bool) {
			v, ok := values[name]
			return v, ok
		},
		names: fileKeyNames,
	}, nil
}

// fileKeys are the leaf keys a config file may hold, with the list keys marked.
func fileKeys() (leaves map[string]bool, sections map[string]bool) {
	leaves, sections = map[string]bool{}, map[string]bool{}
	for i := range keyTable {
		k := &keyTable[i]
		leaves[k.file] = k.list
		if k.secret {
			leaves[k.file+"_file"] = false
		}
		if s := k.section(); s != "" {
			sections[s] = true
		}
	}
	return leaves, sections
}

// flatten turns a nested file tree into dotted keys with text values, reporting unknown keys and
// values of the wrong shape.
func (l *loader) flatten(path, prefix string, tree map[string]any, out map[string]string) {
	leaves, sections := fileKeys()
	names := make([]string, 0, len(tree))
	for name := range tree {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := tree[name]
		full := prefix + name
		where := fmt.Sprintf("config file %s", path)
		if strings.Contains(name, ".") {
			table, rest, _ := strings.Cut(name, ".")
			l.problem(where, fmt.Errorf("key %s must be written nested, not dotted (a table %s with a key %s)", full, table, rest))
			continue
		}
		if m, ok := asMap(v); ok {
			if prefix == "" && sections[full] {
				l.flatten(path, full+".", m, out)
				continue
			}
			if _, leaf := leaves[full]; leaf {
				l.problem(where, fmt.Errorf("key %s must be a single value, not a table", full))
				continue
			}
			l.problem(where, unknownFileKey(full, leaves, sections))
			continue
		}
		isList, known := leaves[full]
		if !known {
			if sections[full] {
				l.problem(where, fmt.Errorf("key %s must be a table of settings", full))
			} else {
				l.problem(where, unknownFileKey(full, leaves, sections))
			}
			continue
		}
		text, err := scalarText(v, isList)
		if err != nil {
			l.problem(where, fmt.Errorf("key %s: %w", full, err))
			continue
		}
		out[full] = text
	}
}

func unknownFileKey(name string, leaves, sections map[string]bool) error {
	known := make([]string, 0, len(leaves)+len(sections))
	for k := range leaves {
		known = append(known, k)
	}
	for s := range sections {
		known = append(known, s)
	}
	sort.Strings(known)
	if s := closest(name, known); s != "" {
		return fmt.Errorf("unknown key %s (did you mean %s?)", name, s)
	}
	return fmt.Errorf("unknown key %s (docs/configuration.md lists them all)", name)
}

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[fmt.Sprint(k)] = v
		}
		return out, true
	}
	return nil, false
}

// scalarText gives a file value the text form the parsers read; lists become comma-separated.
func scalarText(v any, isList bool) (string, error) {
	if items, ok := v.([]any); ok {
		if !isList {
			return "", errors.New("must be a single value, not a list")
		}
		parts := make([]string, 0, len(items))
		for _, item := range items {
			if _, nested := item.([]any); nested {
				return "", errors.New("must be a list of values, not of lists")
			}
			if _, nested := asMap(item); nested {
				return "", errors.New("must be a list of values, not of tables")
			}
			s, _ := scalarText(item, false)
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	}
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	}
	return fmt.Sprint(v), nil
}

// closest suggests the candidate nearest to name, or "" when none is near.
func closest(name string, candidates []string) string {
	best, bestDist := "", 4
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Default is the zero-configuration setting of every key: development, :8080, SQLite in ./data,
// the in-memory ephemeral store and the dev outbox.
func Default() *Config {
	c := &Config{}
	for i := range keyTable {
		k := &keyTable[i]
		if err := k.set(c, k.def); err != nil {
			panic(fmt.Sprintf("config: default of %s: %v", k.env, err))
		}
	}
	return c
}
