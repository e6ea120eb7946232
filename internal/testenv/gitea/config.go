package gitea

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// settings is the content of app.ini: section, then key, then value. The
// section "" is the root (keys before the first [section]).
type settings map[string]map[string]string

// secrets are generated once per server and written into app.ini. Left
// out, Gitea would generate them and rewrite app.ini itself, racing with
// the CLI reading it.
type secrets struct {
	secretKey     string
	internalToken string
	jwtSecret     string // base64url of 32 bytes, as Gitea requires
}

func newSecrets() secrets {
	return secrets{
		secretKey:     hex.EncodeToString(randomBytes(16)),
		internalToken: hex.EncodeToString(randomBytes(32)),
		jwtSecret:     base64.RawURLEncoding.EncodeToString(randomBytes(32)),
	}
}

// randomBytes returns n random bytes. crypto/rand.Read never fails on the
// platforms Go supports (it crashes the program instead).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// defaultSettings configures a Gitea for tests: everything under dir
// (nothing in the user's home), SQLite, HTTP on 127.0.0.1:port only, no
// SSH, LFS, Actions, packages, mail or outgoing network (OFFLINE_MODE, no
// update checker), in-memory queues, sessions and cache, webhooks allowed
// to loopback addresses.
func defaultSettings(dir, staticRoot string, port int, sec secrets) settings {
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	data := filepath.Join(dir, "data")
	s := settings{
		"": {
			"APP_NAME":  "k3sync test Gitea",
			"RUN_MODE":  "prod",
			"WORK_PATH": dir,
		},
		"server": {
			"PROTOCOL":         "http",
			"HTTP_ADDR":        "127.0.0.1",
			"HTTP_PORT":        strconv.Itoa(port),
			"DOMAIN":           "127.0.0.1",
			"ROOT_URL":         url,
			"LOCAL_ROOT_URL":   url,
			"APP_DATA_PATH":    data,
			"STATIC_ROOT_PATH": staticRoot,
			"OFFLINE_MODE":     "true",
			"DISABLE_SSH":      "true",
			"START_SSH_SERVER": "false",
			// Even without SSH, Gitea rewrites <SSH_ROOT_PATH>/
			// authorized_keys as it first starts, by default in the
			// user's ~/.ssh: shared by every test server (two renaming
			// authorized_keys.tmp at once failed a start) and none of
			// theirs.
			"SSH_ROOT_PATH":                   filepath.Join(dir, "ssh"),
			"SSH_CREATE_AUTHORIZED_KEYS_FILE": "false",
			"LFS_START_SERVER":                "false",
		},
		"database": {
			"DB_TYPE":             "sqlite3",
			"PATH":                filepath.Join(data, "gitea.db"),
			"SQLITE_JOURNAL_MODE": "WAL",
			// The CLI writes to the database while the server runs.
			"SQLITE_TIMEOUT": "5000",
		},
		"repository": {
			"ROOT":           filepath.Join(data, "repositories"),
			"DEFAULT_BRANCH": "main",
		},
		"repository.signing": {"SIGNING_KEY": "none"},
		"security": {
			"INSTALL_LOCK":   "true",
			"SECRET_KEY":     sec.secretKey,
			"INTERNAL_TOKEN": sec.internalToken,
		},
		"oauth2": {
			"ENABLED":    "false",
			"JWT_SECRET": sec.jwtSecret,
		},
		"service": {
			"DISABLE_REGISTRATION":   "true",
			"REQUIRE_SIGNIN_VIEW":    "false",
			"REGISTER_EMAIL_CONFIRM": "false",
			"ENABLE_NOTIFY_MAIL":     "false",
		},
		"webhook": {
			// Test receivers are httptest servers on 127.0.0.1.
			"ALLOWED_HOST_LIST": "loopback",
			"DELIVER_TIMEOUT":   "10",
		},
		"log": {
			// To stdout, which the harness writes to <Dir>/gitea.log.
			"MODE":      "console",
			"LEVEL":     "Info",
			"ROOT_PATH": filepath.Join(dir, "log"),
		},
		"queue":               {"TYPE": "channel"},
		"indexer":             {"ISSUE_INDEXER_TYPE": "db", "REPO_INDEXER_ENABLED": "false"},
		"session":             {"PROVIDER": "memory"},
		"cache":               {"ADAPTER": "memory"},
		"mailer":              {"ENABLED": "false"},
		"actions":             {"ENABLED": "false"},
		"packages":            {"ENABLED": "false"},
		"api":                 {"ENABLE_SWAGGER": "false"},
		"cron.update_checker": {"ENABLED": "false"},
	}
	if os.Geteuid() == 0 {
		// Gitea refuses to run as root otherwise. In app.ini rather than
		// the environment so that git hooks, which Gitea starts with a
		// cleaned environment, see it too.
		s[""]["I_AM_BEING_UNSAFE_RUNNING_AS_ROOT"] = "true"
	}
	return s
}

// merge sets the keys of over, replacing existing values.
func (s settings) merge(over map[string]map[string]string) {
	for section, keys := range over {
		if s[section] == nil {
			s[section] = make(map[string]string, len(keys))
		}
		maps.Copy(s[section], keys)
	}
}

// render formats s as app.ini, sections and keys sorted, the root first.
func (s settings) render() []byte {
	var b strings.Builder
	for _, section := range slices.Sorted(maps.Keys(s)) {
		if section != "" {
			fmt.Fprintf(&b, "\n[%s]\n", section)
		}
		for _, key := range slices.Sorted(maps.Keys(s[section])) {
			fmt.Fprintf(&b, "%s = %s\n", key, iniValue(s[section][key]))
		}
	}
	return []byte(b.String())
}

// iniValue quotes v with backquotes (literal in Gitea's INI parser) when
// it would otherwise lose characters to comment or whitespace rules.
func iniValue(v string) string {
	if strings.ContainsAny(v, "#;\"`\n") || strings.TrimSpace(v) != v {
		if !strings.ContainsAny(v, "`\n") {
			return "`" + v + "`"
		}
	}
	return v
}
