package main

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yaml.v3 reports a value of the wrong type, or an unknown key, by line only:
// "line 110: cannot unmarshal !!str `fifty` into float64". An operator looking at a long
// file wants the option's key, so these lines are matched back to the document.
var (
	yamlTypeLine    = regexp.MustCompile("^line (\\d+): cannot unmarshal (\\S+)(?: `(.*)`)? into (.+)$")
	yamlUnknownLine = regexp.MustCompile(`^line (\d+): field (\S+) not found in type .*$`)
)

// namedYAMLError rewrites a yaml.TypeError so each of its lines starts with the YAML key
// path of the offending value (e.g. ingest.read_timeout) and, where the fix is plain, says
// it: a duration written as a bare number needs its unit. Other errors pass unchanged.
func namedYAMLError(raw []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var doc yaml.Node
	if yaml.Unmarshal(raw, &doc) != nil {
		return err
	}
	idx := keysByLine(&doc)
	msgs := make([]string, 0, len(te.Errors))
	for _, line := range te.Errors {
		msgs = append(msgs, nameYAMLLine(idx, line))
	}
	return errors.New(strings.Join(msgs, "; "))
}

// yamlValue is one value of the document with the key path that leads to it.
type yamlValue struct {
	path  string
	value string
	kind  yamlEntry
}

type yamlEntry int

const (
	yamlKey       yamlEntry = iota // a mapping key
	yamlScalar                     // a scalar or alias value
	yamlContainer                  // a mapping or sequence value
)

// keysByLine indexes every key and value of doc by the line it starts on, in document
// order, so that the first entry of a line is the outermost one.
func keysByLine(doc *yaml.Node) map[int][]yamlValue {
	idx := map[int][]yamlValue{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n == nil {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			idx[n.Line] = append(idx[n.Line], yamlValue{path: path, kind: yamlContainer})
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := joinKey(path, k.Value)
				// The key itself: unknown-field errors point at the key's line.
				idx[k.Line] = append(idx[k.Line], yamlValue{path: p, value: k.Value, kind: yamlKey})
				walk(v, p)
			}
		case yaml.SequenceNode:
			idx[n.Line] = append(idx[n.Line], yamlValue{path: path, kind: yamlContainer})
			for i, c := range n.Content {
				walk(c, path+"["+strconv.Itoa(i)+"]")
			}
		default:
			idx[n.Line] = append(idx[n.Line], yamlValue{path: path, value: n.Value, kind: yamlScalar})
		}
	}
	walk(doc, "")
	return idx
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// nameYAMLLine rewrites one line of a yaml.TypeError; a line it cannot place is kept as is.
func nameYAMLLine(idx map[int][]yamlValue, line string) string {
	if m := yamlUnknownLine.FindStringSubmatch(line); m != nil {
		n, _ := strconv.Atoi(m[1])
		key := findKey(idx[n], m[2], true)
		if key == "" {
			return line
		}
		return fmt.Sprintf("%s (line %s): no such option", key, m[1])
	}
	m := yamlTypeLine.FindStringSubmatch(line)
	if m == nil {
		return line
	}
	n, _ := strconv.Atoi(m[1])
	tag, value, into := m[2], m[3], m[4]
	key := findKey(idx[n], value, false)
	if key == "" {
		return line
	}
	msg := fmt.Sprintf("%s (line %s): cannot unmarshal %s", key, m[1], tag)
	if value != "" {
		msg += " `" + value + "`"
	}
	msg += " into " + into
	if into == "time.Duration" {
		switch {
		case (tag == "!!int" || tag == "!!float") && !strings.HasSuffix(value, "..."):
			msg += fmt.Sprintf(": a duration needs its unit, use %ss", value)
		case tag == "!!int" || tag == "!!float":
			msg += ": a duration needs its unit, like 10s"
		default:
			msg += ": use a duration like 10s, 5m or 24h"
		}
	}
	return msg
}

// findKey picks, among the entries of one line, the key path of the one the error quotes:
// a key for an unknown option, else a scalar value (yaml shortens long values to their
// first 7 characters and "..."); a mapping or sequence where a scalar was expected is
// quoted without a value, so it is the outermost container starting on that line.
func findKey(entries []yamlValue, quoted string, unknownKey bool) string {
	prefix, cut := strings.CutSuffix(quoted, "...")
	for _, e := range entries {
		switch {
		case unknownKey && e.kind == yamlKey && e.value == quoted:
			return e.path
		case !unknownKey && quoted != "" && e.kind == yamlScalar &&
			(e.value == quoted || (cut && strings.HasPrefix(e.value, prefix))):
			return e.path
		case !unknownKey && quoted == "" && e.kind == yamlContainer && e.path != "":
			return e.path
		}
	}
	return ""
}
