// Package dashboards holds rumd's Grafana dashboards and provisioning files, embedded in the
// binary so that a single file is a complete install, and serves them for download at
// GET /dashboards/. The dashboards chart the Graphite-compatible API (package graphite)
// through Grafana's built-in Graphite data source, and rumd's own /metrics through
// Prometheus.
package dashboards

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

//go:embed *.json provisioning/*.yaml
var files embed.FS

// Archive is the name under /dashboards/ of a tar.gz of everything, laid out for Grafana:
// provisioning/datasources/rumd.yaml, provisioning/dashboards/rumd.yaml and
// dashboards/rumd/*.json.
const Archive = "rumd-grafana.tar.gz"

// FS returns the embedded files: dashboard JSON at the top, YAML under provisioning/.
func FS() fs.FS { return files }

// Dashboard describes one shipped dashboard.
type Dashboard struct {
	File  string `json:"file"`
	UID   string `json:"uid"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// List reads the shipped dashboards' titles and uids, sorted by file name.
func List() ([]Dashboard, error) {
	names, err := fs.Glob(files, "*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]Dashboard, 0, len(names))
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		var d struct {
			UID   string `json:"uid"`
			Title string `json:"title"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", n, err)
		}
		out = append(out, Dashboard{File: n, UID: d.UID, Title: d.Title, URL: "/dashboards/" + n})
	}
	return out, nil
}

// servedFile is one downloadable file with its validator.
type servedFile struct {
	body  []byte
	ctype string
	etag  string
}

// Mount serves GET /dashboards/ (a JSON index), GET /dashboards/<file> for each dashboard
// and provisioning file, and GET /dashboards/rumd-grafana.tar.gz, with ETags.
func Mount(r fiber.Router) error {
	list, err := List()
	if err != nil {
		return err
	}
	served := map[string]*servedFile{}
	var provisioning []string
	err = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		ctype := "application/json"
		if strings.HasSuffix(p, ".yaml") {
			ctype = "application/yaml; charset=utf-8"
			provisioning = append(provisioning, "/dashboards/"+p)
		}
		served[p] = newServed(b, ctype)
		return nil
	})
	if err != nil {
		return fmt.Errorf("dashboards: %w", err)
	}
	tgz, err := archive()
	if err != nil {
		return fmt.Errorf("dashboards: %w", err)
	}
	served[Archive] = newServed(tgz, "application/gzip")
	index, err := json.Marshal(fiber.Map{"dashboards": list, "provisioning": provisioning, "archive": "/dashboards/" + Archive})
	if err != nil {
		return err
	}
	indexFile := newServed(index, "application/json")

	send := func(c *fiber.Ctx, f *servedFile) error {
		c.Set(fiber.HeaderETag, f.etag)
		c.Set(fiber.HeaderCacheControl, "no-cache")
		if c.Get(fiber.HeaderIfNoneMatch) == f.etag {
			return c.SendStatus(fiber.StatusNotModified)
		}
		c.Set(fiber.HeaderContentType, f.ctype)
		return c.Send(f.body)
	}
	r.Get("/dashboards", func(c *fiber.Ctx) error { return send(c, indexFile) })
	r.Get("/dashboards/*", func(c *fiber.Ctx) error {
		name := c.Params("*")
		if name == "" {
			return send(c, indexFile)
		}
		f := served[path.Clean(name)]
		if f == nil {
			return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": fmt.Sprintf("no dashboard file %q; GET /dashboards/ lists them", name), "reason": "not_found"})
		}
		if name == Archive {
			c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+Archive+`"`)
		}
		return send(c, f)
	})
	return nil
}

func newServed(b []byte, ctype string) *servedFile {
	sum := sha256.Sum256(b)
	return &servedFile{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// archive builds the tar.gz laid out for Grafana's provisioning directories. Its bytes
// depend only on the embedded files, so its ETag is stable across restarts.
func archive() ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	mtime := time.Unix(0, 0).UTC()
	add := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	names, err := fs.Glob(files, "*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for _, n := range names {
		b, _ := files.ReadFile(n)
		if err := add("dashboards/rumd/"+n, b); err != nil {
			return nil, err
		}
	}
	for _, n := range []string{"datasources", "dashboards"} {
		b, err := files.ReadFile("provisioning/" + n + ".yaml")
		if err != nil {
			return nil, err
		}
		if err := add("provisioning/"+n+"/rumd.yaml", b); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
