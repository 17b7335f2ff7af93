package main

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docRef is a document a Go comment cites: a path from the repository
// root and, optionally, a section heading in quotes after a comma.
var docRef = regexp.MustCompile(`((?:[\w.-]+/)*[\w.-]+\.md)\b(?:,\s*"([^"]+)")?`)

// commentBlocks returns the text of the comments of a Go source, one
// string per run of consecutive comment lines, so that a reference
// wrapped over two lines is read whole.
func commentBlocks(src string) []string {
	var blocks []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			blocks = append(blocks, strings.Join(cur, " "))
			cur = nil
		}
	}
	sc := bufio.NewScanner(strings.NewReader(src))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := commentStart(line)
		if i < 0 {
			flush()
			continue
		}
		afterCode := strings.TrimSpace(line[:i]) != ""
		if afterCode {
			flush() // a comment after code stands alone
		}
		cur = append(cur, strings.TrimSpace(line[i+2:]))
		if afterCode {
			flush()
		}
	}
	flush()
	return blocks
}

// commentStart returns the index of the "//" that starts a line comment
// in line, or -1; a "//" inside a string or rune literal does not count.
func commentStart(line string) int {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0 && c == '\\' && quote != '`':
			i++
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '`' || c == '\'':
			quote = c
		case c == '/' && i+1 < len(line) && line[i+1] == '/':
			return i
		}
	}
	return -1
}

// headings returns the section headings of a Markdown file.
func headings(t *testing.T, path string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "#") {
			h[strings.TrimSpace(strings.TrimLeft(l, "#"))] = true
		}
	}
	return h
}

// TestDocReferences: every document a Go comment cites exists in the
// repository, and so does every section it names.
func TestDocReferences(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	cited := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, block := range commentBlocks(string(src)) {
			for _, m := range docRef.FindAllStringSubmatch(block, -1) {
				cited++
				doc := filepath.Join(root, filepath.FromSlash(m[1]))
				if _, err := os.Stat(doc); err != nil {
					t.Errorf("%s cites %s, which is not in the repository (paths are from the repository root, e.g. docs/design.md)", rel, m[1])
					continue
				}
				if m[2] != "" && !headings(t, doc)[m[2]] {
					t.Errorf("%s cites section %q of %s, which has no such heading", rel, m[2], m[1])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if cited == 0 {
		t.Error("no document references found at all: the scan is broken")
	}
}

func TestCommentBlocks(t *testing.T) {
	src := "// See docs/a.md, \"Two\n// words\".\nx := \"http://b.md\" // c.md\n\n/* d.md */\n"
	got := commentBlocks(src)
	want := []string{`See docs/a.md, "Two words".`, "c.md"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("commentBlocks = %q, want %q", got, want)
	}
	m := docRef.FindStringSubmatch(got[0])
	if m == nil || m[1] != "docs/a.md" || m[2] != "Two words" {
		t.Errorf("docRef on %q = %q", got[0], m)
	}
	if docRef.MatchString("params.mdalg") {
		t.Error("docRef matches params.mdalg")
	}
}
