package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestArchitectureReferences: every `path/file.go:Name` ARCHITECTURE.md
// names is a file that defines Name (a func, method, type, var or const),
// so a rename that leaves the walkthroughs wrong fails here.
func TestArchitectureReferences(t *testing.T) {
	doc, err := os.ReadFile("ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`([a-zA-Z0-9_/.-]+\.go):([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?`).FindAllStringSubmatch(string(doc), -1)
	if len(refs) < 20 {
		t.Fatalf("only %d file:Name references found; the pattern is broken", len(refs))
	}
	seen := map[string]bool{}
	for _, r := range refs {
		file, name := r[1], r[2]
		if r[3] != "" {
			name = r[3] // Type.Method: look for the method
		}
		if seen[file+":"+name] {
			continue
		}
		seen[file+":"+name] = true
		def := regexp.MustCompile(`(?m)^(func (\([^)]*\) )?` + name + `\b|type ` + name + `\b|\t?` + name + `\s+(=|[A-Za-z*\[])|(var|const) ` + name + `\b)`)
		// A bare or partial path (http.go, pki/ca.go) refers to the package
		// the text is about: any tracked file that ends so and defines Name
		// will do.
		files := []string{file}
		if _, err := os.Stat(file); err != nil {
			out, _ := exec.Command("git", "ls-files", "*/"+file, file).Output()
			files = strings.Fields(string(out))
		}
		found := false
		for _, f := range files {
			if src, err := os.ReadFile(f); err == nil && def.Match(src) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("ARCHITECTURE.md names %s:%s, which no such file defines (%v)", file, name, files)
		}
	}
}
