package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"rumd/geoip"
	"rumd/internal/geoipfile"
	"rumd/internal/testutil"
)

// syncBuffer is a log sink the serving goroutines and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveLogged runs `rumd serve` in process with args from dir as the working directory, and
// returns its log once it has started and stopped.
func serveLogged(t *testing.T, dir string, args ...string) string {
	t.Helper()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	cfg, err := loadConfig(append([]string{"--listen", "127.0.0.1:0", "--data", t.TempDir()}, args...))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, logger, cfg, ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, logs.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	return logs.String()
}

// duplicateKeys lists the keys that appear twice at the top level of one JSON log line.
func duplicateKeys(line string) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	seen, dups := map[string]bool{}, []string(nil)
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := fmt.Sprint(k)
		if seen[key] {
			dups = append(dups, key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return dups, nil
}

func TestStartLogNamesURLsAndNoKeyTwice(t *testing.T) {
	geo := testutil.MustGeoIPFile(t, geoipfile.GeoIP2Country, geoipfile.Network{CIDR: "1.2.3.0/24", Country: "DE"})
	logs := serveLogged(t, t.TempDir(), "--geoip", geo)
	for _, want := range []string{`"home":"http://127.0.0.1:`, `"test_page":"http://127.0.0.1:`, `/test"`, `/rumd.js"`, `"msg":"geoip database loaded"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(logs))
	lines := 0
	for sc.Scan() {
		lines++
		dups, err := duplicateKeys(sc.Text())
		if err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if len(dups) > 0 {
			t.Errorf("keys %v twice in %s", dups, sc.Text())
		}
	}
	// Positive control for the duplicate check.
	if dups, _ := duplicateKeys(`{"component":"enrich","component":"enrich"}`); len(dups) != 1 {
		t.Fatalf("duplicate check is blind: %v", dups)
	}
	if lines < 4 {
		t.Fatalf("only %d log lines", lines)
	}
}

// TestDefaultGeoIP checks that serve without --geoip opens the database in the default
// location under the working directory and says so, says when there is none, and that
// --geoip none turns it off.
func TestDefaultGeoIP(t *testing.T) {
	tree := t.TempDir()
	path := filepath.Join(tree, geoip.RelPath)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	src := testutil.MustGeoIPFile(t, geoipfile.IPLocationDB, geoipfile.Network{CIDR: "1.2.3.0/24", Country: "DE"})
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if logs := serveLogged(t, tree); !strings.Contains(logs, `"msg":"using the default GeoIP database","path":"`+path+`"`) ||
		!strings.Contains(logs, `"msg":"geoip database loaded"`) {
		t.Errorf("default database not used:\n%s", logs)
	}
	if logs := serveLogged(t, tree, "--geoip", "none"); strings.Contains(logs, "geoip database loaded") || !strings.Contains(logs, "--geoip none") {
		t.Errorf("--geoip none still loads a database:\n%s", logs)
	}
	if logs := serveLogged(t, t.TempDir()); !strings.Contains(logs, "no GeoIP database found") || strings.Contains(logs, "geoip database loaded") {
		if _, err := os.Stat(geoip.SystemPath); err != nil {
			t.Errorf("empty tree: want the no-database line:\n%s", logs)
		}
	}
}
