//go:build gendocs

package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// With -tags gendocs (scripts/package only; the shipped binary does not link
// cobra/doc), `bluenet __gendocs DIR` writes the man pages and the bash, zsh
// and fish completions generated from the command definitions:
// DIR/man/*.1, DIR/bluenet.bash, DIR/_bluenet, DIR/bluenet.fish.
func init() {
	if len(os.Args) == 3 && os.Args[1] == "__gendocs" {
		if err := genDocs(newRootCmd(), os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "bluenet __gendocs:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func genDocs(root *cobra.Command, dir string) error {
	root.DisableAutoGenTag = true
	man := filepath.Join(dir, "man")
	if err := os.MkdirAll(man, 0o755); err != nil {
		return err
	}
	// cobra takes the date from SOURCE_DATE_EPOCH when it is set.
	header := &doc.GenManHeader{Title: "BLUENET", Section: "1", Source: "bluenet " + version, Manual: "Bluenet manual"}
	if err := doc.GenManTree(root, header, man); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	for name, gen := range map[string]func(f *os.File) error{
		"bluenet.bash": func(f *os.File) error { return root.GenBashCompletionV2(f, true) },
		"_bluenet":     func(f *os.File) error { return root.GenZshCompletion(f) },
		"bluenet.fish": func(f *os.File) error { return root.GenFishCompletion(f, true) },
	} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := gen(f); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
