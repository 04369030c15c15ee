package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// Default ports of the multi-host URL forms when an address has none.
const (
	defaultSentinelPort = "26379"
	defaultRedisPort    = "6379"
)

// clientConfig is a parsed Redis URL: exactly one of single, failover and cluster is set.
type clientConfig struct {
	// where names the server(s) for messages, without credentials.
	where    string
	single   *goredis.Options
	failover *goredis.FailoverOptions
	cluster  *goredis.ClusterOptions
}

const urlForms = "redis://, rediss://, unix://, redis-sentinel://, rediss-sentinel://, redis-cluster:// or rediss-cluster://"

// parseURL reads every URL form the package comment lists. Its errors never repeat the URL, which may
// hold a password.
func parseURL(raw string) (clientConfig, error) {
	if strings.TrimSpace(raw) == "" {
		return clientConfig{}, errors.New("redis: empty URL")
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return clientConfig{}, fmt.Errorf("redis: URL has no scheme; want %s", urlForms)
	}
	var (
		cfg clientConfig
		err error
	)
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "unix":
		cfg.single, err = goredis.ParseURL(raw)
		if err == nil {
			cfg.where = cfg.single.Addr
		}
	case "redis-sentinel", "rediss-sentinel":
		cfg, err = parseSentinel(strings.TrimSuffix(strings.ToLower(scheme), "-sentinel"), rest)
	case "redis-cluster", "rediss-cluster":
		cfg, err = parseCluster(strings.TrimSuffix(strings.ToLower(scheme), "-cluster"), rest)
	default:
		return clientConfig{}, fmt.Errorf("redis: unsupported URL scheme %q; want %s", scheme, urlForms)
	}
	if err != nil {
		return clientConfig{}, fmt.Errorf("redis: invalid %s URL: %w", scheme, parseError(err))
	}
	return cfg, nil
}

// parseError drops the *url.Error layer, whose message quotes the whole URL and so its password, and
// the "redis: " that go-redis's messages start with, which the caller's message already says.
func parseError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	if msg, ok := strings.CutPrefix(err.Error(), "redis: "); ok {
		return errors.New(msg)
	}
	return err
}

// multiHostURL is a URL whose authority lists several host:port pairs, which net/url cannot parse.
type multiHostURL struct {
	user  *url.Userinfo
	hosts []string
	path  string
	query url.Values
}

func parseMultiHost(rest, defaultPort string) (multiHostURL, error) {
	var u multiHostURL
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if strings.Contains(tail, "#") {
		return u, errors.New("a fragment (#...) is not allowed")
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		// Let net/url decode the user information, with a stand-in host.
		p, err := url.Parse("redis://" + authority[:at] + "@host")
		if err != nil {
			return u, errors.New("malformed user name or password (percent-encode reserved characters)")
		}
		u.user = p.User
		authority = authority[at+1:]
	}
	for h := range strings.SplitSeq(authority, ",") {
		addr, err := hostPort(strings.TrimSpace(h), defaultPort)
		if err != nil {
			return u, err
		}
		u.hosts = append(u.hosts, addr)
	}
	p, err := url.Parse("redis://host" + tail)
	if err != nil {
		return u, parseError(err)
	}
	u.path = p.Path
	if u.query, err = url.ParseQuery(p.RawQuery); err != nil {
		return u, fmt.Errorf("malformed query: %w", err)
	}
	return u, nil
}

// hostPort checks one address of a host list, adding the default port when it has none.
func hostPort(h, defaultPort string) (string, error) {
	if h == "" {
		return "", errors.New("empty host in the host list")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port: a bare name, IPv4 address or bracketed IPv6 address.
		host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), defaultPort
		if strings.ContainsAny(host, "[]") || (strings.Contains(host, ":") && !strings.HasPrefix(h, "[")) {
			return "", fmt.Errorf("malformed address %q (write IPv6 addresses in brackets)", h)
		}
	}
	if host == "" {
		return "", fmt.Errorf("address %q has no host", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("address %q has an invalid port", h)
	}
	return net.JoinHostPort(host, port), nil
}

// rejectQuery refuses query parameters that the URL form says elsewhere; instead maps each such
// parameter to where the URL says it.
func rejectQuery(q url.Values, instead map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(instead)) {
		if q.Has(name) {
			return fmt.Errorf("give %s, not the query parameter %q", instead[name], name)
		}
	}
	return nil
}

// parseSentinel reads redis-sentinel://[user:password@]host1:port,host2:port/master[/db][?options],
// building the URL go-redis's ParseFailoverURL reads so that every option it knows stays available.
func parseSentinel(scheme, rest string) (clientConfig, error) {
	m, err := parseMultiHost(rest, defaultSentinelPort)
	if err != nil {
		return clientConfig{}, err
	}
	if err := rejectQuery(m.query, map[string]string{
		"master_name": "the master name as the path",
		"db":          "the database number after the master name in the path",
		"addr":        "every Sentinel in the host list",
		"username":    "the user name before the hosts",
		"password":    "the password before the hosts",
	}); err != nil {
		return clientConfig{}, err
	}
	segs := strings.FieldsFunc(m.path, func(r rune) bool { return r == '/' })
	if len(segs) == 0 || len(segs) > 2 {
		return clientConfig{}, errors.New("the path must be /master-name or /master-name/db")
	}
	q := m.query
	q.Set("master_name", segs[0])
	if len(segs) == 2 {
		if db, err := strconv.Atoi(segs[1]); err != nil || db < 0 {
			return clientConfig{}, fmt.Errorf("invalid database number %q", segs[1])
		}
		q.Set("db", segs[1])
	}
	if m.user != nil {
		q.Set("username", m.user.Username())
		if pw, ok := m.user.Password(); ok {
			q.Set("password", pw)
		}
	}
	for _, h := range m.hosts[1:] {
		q.Add("addr", h)
	}
	// go-redis takes the Sentinels' own credentials from the user information of its URL.
	u := &url.URL{Scheme: scheme, Host: m.hosts[0]}
	if q.Has("sentinel_username") || q.Has("sentinel_password") {
		u.User = url.UserPassword(q.Get("sentinel_username"), q.Get("sentinel_password"))
		q.Del("sentinel_username")
		q.Del("sentinel_password")
	}
	u.RawQuery = q.Encode()
	o, err := goredis.ParseFailoverURL(u.String())
	if err != nil {
		return clientConfig{}, err
	}
	serverNameFromAddress(o.TLSConfig)
	return clientConfig{
		where:    fmt.Sprintf("master %q via Sentinels %s", o.MasterName, strings.Join(o.SentinelAddrs, ",")),
		failover: o,
	}, nil
}

// parseCluster reads redis-cluster://[user:password@]host1:port,host2:port[?options] through go-redis's
// ParseClusterURL.
func parseCluster(scheme, rest string) (clientConfig, error) {
	m, err := parseMultiHost(rest, defaultRedisPort)
	if err != nil {
		return clientConfig{}, err
	}
	if err := rejectQuery(m.query, map[string]string{"addr": "every node in the host list"}); err != nil {
		return clientConfig{}, err
	}
	if strings.Trim(m.path, "/") != "" {
		return clientConfig{}, errors.New("a cluster URL has no path: Redis Cluster has only database 0")
	}
	q := m.query
	for _, h := range m.hosts[1:] {
		q.Add("addr", h)
	}
	u := &url.URL{Scheme: scheme, User: m.user, Host: m.hosts[0], RawQuery: q.Encode()}
	o, err := goredis.ParseClusterURL(u.String())
	if err != nil {
		return clientConfig{}, err
	}
	serverNameFromAddress(o.TLSConfig)
	return clientConfig{where: "cluster " + strings.Join(o.Addrs, ","), cluster: o}, nil
}

// serverNameFromAddress makes TLS check each server against the host it dials. go-redis pins the
// first host of the URL, which is wrong for the other Sentinels, the master they name, and the other
// cluster nodes.
func serverNameFromAddress(c *tls.Config) {
	if c != nil {
		c.ServerName = ""
	}
}

// newClient makes the go-redis client a parsed URL describes. Context deadlines always bound network
// waits, so a caller's timeout is honoured whatever the URL says.
func newClient(cfg clientConfig) goredis.UniversalClient {
	const name = "gatehouse"
	switch {
	case cfg.failover != nil:
		cfg.failover.ContextTimeoutEnabled = true
		if cfg.failover.ClientName == "" {
			cfg.failover.ClientName = name
		}
		return goredis.NewFailoverClient(cfg.failover)
	case cfg.cluster != nil:
		cfg.cluster.ContextTimeoutEnabled = true
		if cfg.cluster.ClientName == "" {
			cfg.cluster.ClientName = name
		}
		return goredis.NewClusterClient(cfg.cluster)
	default:
		cfg.single.ContextTimeoutEnabled = true
		if cfg.single.ClientName == "" {
			cfg.single.ClientName = name
		}
		return goredis.NewClient(cfg.single)
	}
}
