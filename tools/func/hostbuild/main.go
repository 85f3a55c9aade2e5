// Command hostbuild builds one function exactly as `func build
// --builder=host` does, for this machine's platform only.
//
// Why it exists: func v0.49.2's host builder builds every platform it is
// given and defaults to three (linux/amd64, linux/arm64, linux/arm/v7), but
// its CLI refuses --platform unless the builder is pack or s2i
// (cmd/build.go: "Platform is only supported with the S2I and Pack
// builders"). The tests need one binary per function, for the machine they
// run on, so building two more per function only costs time. This program
// makes the same calls as the CLI's runBuild: fn.NewFunction, the host
// scaffolder and builder (knative.dev/func/pkg/oci), Scaffold, Build with
// fn.BuildWithPlatforms, Write and Stamp; it drops the prompts and the push.
//
//	hostbuild --registry NAME [--path DIR] [--platform linux/amd64]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"

	fn "knative.dev/func/pkg/functions"
	"knative.dev/func/pkg/oci"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "hostbuild:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("hostbuild", flag.ContinueOnError)
	path := fs.String("path", ".", "the function's folder (holding func.yaml)")
	registry := fs.String("registry", "", "registry the image is named after (nothing is pushed)")
	platform := fs.String("platform", "linux/"+runtime.GOARCH, "OS/architecture to build for")
	verbose := fs.Bool("verbose", false, "log the build's steps")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *registry == "" {
		return errors.New("--registry is required (it names the image; nothing is pushed)")
	}
	goos, arch, ok := strings.Cut(*platform, "/")
	if !ok || goos == "" || arch == "" || strings.Contains(arch, "/") {
		return fmt.Errorf("--platform %q: want OS/ARCH, e.g. linux/amd64", *platform)
	}

	f, err := fn.NewFunction(*path)
	if err != nil {
		return err
	}
	if !f.Initialized() {
		return fmt.Errorf("%s holds no initialized function (no func.yaml)", *path)
	}
	f.Registry = *registry
	client := fn.New(
		fn.WithVerbose(*verbose),
		fn.WithRegistry(*registry),
		fn.WithScaffolder(oci.NewScaffolder(*verbose)),
		fn.WithBuilder(oci.NewBuilder("host", *verbose)),
	)
	ctx := context.Background()
	if err := client.Scaffold(ctx, f, ""); err != nil {
		return err
	}
	if f, err = client.Build(ctx, f, fn.BuildWithPlatforms([]fn.Platform{{OS: goos, Architecture: arch}})); err != nil {
		return err
	}
	if err := f.Write(); err != nil {
		return err
	}
	return f.Stamp()
}
