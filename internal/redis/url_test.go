package redis

import (
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		name  string
		url   string
		check func(t *testing.T, c clientConfig)
	}{
		{"single", "redis://localhost:6380/2", func(t *testing.T, c clientConfig) {
			o := c.single
			if o == nil || o.Addr != "localhost:6380" || o.DB != 2 || o.TLSConfig != nil {
				t.Fatalf("got %+v", o)
			}
		}},
		{"single default port", "redis://cache.internal", func(t *testing.T, c clientConfig) {
			if c.single == nil || c.single.Addr != "cache.internal:6379" || c.where != "cache.internal:6379" {
				t.Fatalf("got %+v", c)
			}
		}},
		{"single TLS with credentials", "rediss://app:s%40cret@cache:6390/0?dial_timeout=2s", func(t *testing.T, c clientConfig) {
			o := c.single
			if o == nil || o.TLSConfig == nil || o.Username != "app" || o.Password != "s@cret" || o.DialTimeout != 2*time.Second {
				t.Fatalf("got %+v", o)
			}
		}},
		{"unix socket", "unix:///run/redis.sock?db=3", func(t *testing.T, c clientConfig) {
			if c.single == nil || c.single.Network != "unix" || c.single.Addr != "/run/redis.sock" || c.single.DB != 3 {
				t.Fatalf("got %+v", c.single)
			}
		}},
		{"sentinel", "redis-sentinel://:secret@s1:26380,s2,10.0.0.3:26381/mymaster/3", func(t *testing.T, c clientConfig) {
			o := c.failover
			if o == nil {
				t.Fatalf("got %+v, want a Sentinel configuration", c)
			}
			if got := strings.Join(o.SentinelAddrs, " "); got != "s1:26380 s2:26379 10.0.0.3:26381" {
				t.Errorf("SentinelAddrs = %s", got)
			}
			if o.MasterName != "mymaster" || o.DB != 3 || o.Password != "secret" || o.Username != "" {
				t.Errorf("got master %q db %d user %q password %q", o.MasterName, o.DB, o.Username, o.Password)
			}
			if o.SentinelPassword != "" || o.TLSConfig != nil {
				t.Errorf("got Sentinel password %q, TLS %v", o.SentinelPassword, o.TLSConfig)
			}
			if strings.Contains(c.where, "secret") || !strings.Contains(c.where, "mymaster") {
				t.Errorf("where = %q", c.where)
			}
		}},
		{"sentinel credentials and options", "rediss-sentinel://app:pw@s1/main?sentinel_username=sen&sentinel_password=spw&read_timeout=500ms&pool_size=7", func(t *testing.T, c clientConfig) {
			o := c.failover
			if o == nil || o.MasterName != "main" || o.DB != 0 || o.Username != "app" || o.Password != "pw" {
				t.Fatalf("got %+v", o)
			}
			if o.SentinelUsername != "sen" || o.SentinelPassword != "spw" {
				t.Errorf("Sentinel credentials = %q %q", o.SentinelUsername, o.SentinelPassword)
			}
			if o.ReadTimeout != 500*time.Millisecond || o.PoolSize != 7 {
				t.Errorf("ReadTimeout %s PoolSize %d", o.ReadTimeout, o.PoolSize)
			}
			if o.TLSConfig == nil || o.TLSConfig.ServerName != "" {
				t.Errorf("want TLS that checks each host by its own name, got %+v", o.TLSConfig)
			}
		}},
		{"sentinel IPv6", "redis-sentinel://[::1]:26380,[fe80::1]/m", func(t *testing.T, c clientConfig) {
			if c.failover == nil || strings.Join(c.failover.SentinelAddrs, " ") != "[::1]:26380 [fe80::1]:26379" {
				t.Fatalf("got %+v", c.failover)
			}
		}},
		{"cluster", "redis-cluster://u:p@c1:7000,c2:7001,c3?read_timeout=1s", func(t *testing.T, c clientConfig) {
			o := c.cluster
			if o == nil || strings.Join(o.Addrs, " ") != "c1:7000 c2:7001 c3:6379" {
				t.Fatalf("got %+v", o)
			}
			if o.Username != "u" || o.Password != "p" || o.ReadTimeout != time.Second || o.TLSConfig != nil {
				t.Errorf("got user %q password %q read timeout %s TLS %v", o.Username, o.Password, o.ReadTimeout, o.TLSConfig)
			}
		}},
		{"cluster TLS", "rediss-cluster://c1:7000/", func(t *testing.T, c clientConfig) {
			if c.cluster == nil || c.cluster.TLSConfig == nil || c.cluster.TLSConfig.ServerName != "" {
				t.Fatalf("got %+v", c.cluster)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, tc := range []struct {
		name, url, want string
	}{
		{"empty", "", "empty URL"},
		{"no scheme", "localhost:6379", "no scheme"},
		{"unknown scheme", "http://:hunter2@localhost", `unsupported URL scheme "http"`},
		{"bad database", "redis://:hunter2@localhost/abc", "invalid database number"},
		{"bad port", "redis://:hunter2@localhost:notaport", "invalid"},
		{"unknown option", "redis://:hunter2@localhost?bogus=1", "bogus"},
		{"sentinel without master", "redis-sentinel://:hunter2@s1:26379", "/master-name"},
		{"sentinel bad database", "redis-sentinel://:hunter2@s1/m/x", `invalid database number "x"`},
		{"sentinel negative database", "redis-sentinel://s1/m/-1", "invalid database number"},
		{"sentinel too deep", "redis-sentinel://s1/m/1/2", "/master-name"},
		{"sentinel master in query", "redis-sentinel://s1/m?master_name=other", "master_name"},
		{"sentinel unknown option", "redis-sentinel://:hunter2@s1/m?bogus=1", "bogus"},
		{"sentinel empty host", "redis-sentinel://s1,,s2/m", "empty host"},
		{"sentinel bad port", "redis-sentinel://:hunter2@s1:99999/m", "invalid port"},
		{"sentinel bare IPv6", "redis-sentinel://fe80::1/m", "brackets"},
		{"cluster with database", "redis-cluster://:hunter2@c1:7000/3", "no path"},
		{"cluster addr in query", "redis-cluster://c1:7000?addr=c2:7001", "addr"},
		{"cluster no host", "redis-cluster://:hunter2@", "empty host"},
		{"cluster bad port", "redis-cluster://c1:x", "invalid port"},
		{"cluster unknown option", "redis-cluster://:hunter2@c1?bogus=1", "bogus"},
		{"fragment", "redis-cluster://c1#frag", "fragment"},
		{"malformed query", "redis-cluster://c1?a=%zz", "malformed query"},
		{"sentinel password in query", "redis-sentinel://s1/m?password=hunter2", "the password before the hosts"},
		{"malformed credentials", "redis-sentinel://a%zz:hunter2@s1/m", "malformed user name or password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseURL(tc.url)
			if err == nil {
				t.Fatalf("parseURL(%q) succeeded", tc.url)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}
