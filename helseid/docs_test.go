package helseid_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mdReference is a Markdown file named in Go source, with the section it points at when one is
// quoted after it: helseid/docs/profile.md, "Claims".
var mdReference = regexp.MustCompile(`([A-Za-z0-9_./-]+\.md)(?:, "([^"]+)")?`)

// commentWrap joins wrapped comment lines, so that a reference split across two is seen whole.
var commentWrap = regexp.MustCompile(`\n\s*//\s*`)

// Every Markdown file a doc comment or test names is in the repository (users have no other
// copy), and a quoted section after it is one of its headings.
func TestDocReferencesExist(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "the module root is the parent of helseid")

	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata":
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
		text := commentWrap.ReplaceAllString(string(src), " ")
		rel, _ := filepath.Rel(root, path)
		for _, m := range mdReference.FindAllStringSubmatch(text, -1) {
			checked++
			target := filepath.Join(root, filepath.FromSlash(m[1]))
			if _, err := os.Stat(target); err != nil {
				target = filepath.Join(filepath.Dir(path), filepath.FromSlash(m[1]))
			}
			doc, err := os.ReadFile(target)
			if !assert.NoError(t, err, "%s names %s, which is not in the repository", rel, m[1]) {
				continue
			}
			if m[2] != "" {
				heading := regexp.MustCompile(`(?m)^#+ ` + regexp.QuoteMeta(m[2]))
				assert.True(t, heading.Match(doc), "%s points at a section %q of %s that does not exist", rel, m[2], m[1])
			}
		}
		return nil
	})
	require.NoError(t, err)
	assert.NotZero(t, checked, "the walk found the references")
}

// mdLink is a Markdown link target: [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// Every relative link in the repository's Markdown files (README, CHANGELOG, SECURITY, docs)
// reaches a file, and a #fragment one of its headings.
func TestMarkdownLinksResolve(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".md") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, m := range mdLink.FindAllStringSubmatch(string(src), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			file, fragment, _ := strings.Cut(target, "#")
			doc := src
			if file != "" {
				doc, err = os.ReadFile(filepath.Join(filepath.Dir(path), filepath.FromSlash(file)))
				if !assert.NoError(t, err, "%s links to %s, which is not in the repository", rel, file) {
					continue
				}
			}
			if fragment != "" {
				assert.Contains(t, headingSlugs(string(doc)), fragment, "%s links to a heading #%s that %s does not have", rel, fragment, file)
			}
		}
		return nil
	})
	require.NoError(t, err)
	assert.NotZero(t, checked, "the walk found the links")
}

// headingSlugs returns the anchors GitHub makes for a Markdown file's headings: lower case,
// spaces to hyphens, other punctuation dropped.
func headingSlugs(doc string) []string {
	var slugs []string
	for _, line := range strings.Split(doc, "\n") {
		title, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if !ok || !strings.HasPrefix(line, "#") {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(title)) {
			switch {
			case r == ' ' || r == '-':
				b.WriteRune('-')
			case r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		slugs = append(slugs, b.String())
	}
	return slugs
}
