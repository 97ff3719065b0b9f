// Package dashboards holds rumd's Grafana dashboards and provisioning files, embedded in the
// binary so that a single file is a complete install, and serves them for download at
// GET /dashboards/. Two sets come from one definition (package internal/define, written by
// `go generate`): at the top, the Graphite set charts the Graphite-compatible API (package
// graphite) through Grafana's built-in Graphite data source; under prometheus/, the same
// dashboards chart rumd's native-histogram families through a Prometheus data source
// (docs/dashboards.md). The health dashboard reads rumd's own /metrics through Prometheus
// and belongs to both routes.
package dashboards

//go:generate go run ./build

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

//go:embed *.json provisioning/*.yaml prometheus/*.json prometheus/provisioning/*.yaml
var files embed.FS

// Archive is the name under /dashboards/ of a tar.gz of the Graphite route, laid out for
// Grafana: provisioning/datasources/rumd.yaml, provisioning/dashboards/rumd.yaml and
// dashboards/rumd/*.json.
const Archive = "rumd-grafana.tar.gz"

// PrometheusArchive is the same for the Prometheus route: provisioning/datasources/
// rumd-prometheus.yaml, provisioning/dashboards/rumd-prometheus.yaml and
// dashboards/rumd-prometheus/*.json (the Prometheus set and the health dashboard).
const PrometheusArchive = "rumd-grafana-prometheus.tar.gz"

// PrometheusDir is the directory of the Prometheus set in FS.
const PrometheusDir = "prometheus"

// healthFile is the dashboard of rumd's own /metrics, shipped in both routes.
const healthFile = "health.json"

// FS returns the embedded files: the Graphite set's dashboard JSON at the top, its YAML
// under provisioning/, and the Prometheus set likewise under prometheus/.
func FS() fs.FS { return files }

// Dashboard describes one shipped dashboard.
type Dashboard struct {
	File  string `json:"file"`
	UID   string `json:"uid"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// List reads the shipped dashboards' titles and uids, sorted by file name: the Graphite
// set and the health dashboard, then the Prometheus set.
func List() ([]Dashboard, error) {
	top, err := fs.Glob(files, "*.json")
	if err != nil {
		return nil, err
	}
	prom, err := fs.Glob(files, PrometheusDir+"/*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(top)
	sort.Strings(prom)
	names := append(top, prom...)
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
	for _, a := range []string{Archive, PrometheusArchive} {
		tgz, err := archive(a)
		if err != nil {
			return fmt.Errorf("dashboards: %w", err)
		}
		served[a] = newServed(tgz, "application/gzip")
	}
	index, err := json.Marshal(fiber.Map{"dashboards": list, "provisioning": provisioning,
		"archive": "/dashboards/" + Archive, "prometheus_archive": "/dashboards/" + PrometheusArchive})
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
		if name == Archive || name == PrometheusArchive {
			c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
		}
		return send(c, f)
	})
	return nil
}

func newServed(b []byte, ctype string) *servedFile {
	sum := sha256.Sum256(b)
	return &servedFile{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// archive builds the tar.gz of one route (Archive or PrometheusArchive), laid out for
// Grafana's provisioning directories. Its bytes depend only on the embedded files, so its
// ETag is stable across restarts.
func archive(name string) ([]byte, error) {
	dir, provDir, as := ".", "provisioning", "rumd"
	if name == PrometheusArchive {
		dir, provDir, as = PrometheusDir, PrometheusDir+"/provisioning", "rumd-prometheus"
	}
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
	names, err := fs.Glob(files, path.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if dir != "." {
		names = append(names, healthFile)
	}
	sort.Slice(names, func(i, j int) bool { return path.Base(names[i]) < path.Base(names[j]) })
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		if err := add("dashboards/"+as+"/"+path.Base(n), b); err != nil {
			return nil, err
		}
	}
	for _, n := range []string{"datasources", "dashboards"} {
		b, err := files.ReadFile(provDir + "/" + n + ".yaml")
		if err != nil {
			return nil, err
		}
		if err := add("provisioning/"+n+"/"+as+".yaml", b); err != nil {
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
