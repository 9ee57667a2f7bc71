package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"nodectl/runtime/image"
)

// Defaults of the image command's store flags; the agent uses the same
// store at <work_dir>/images.
const (
	imageDefaultWorkDir = "/var/lib/nodectl"
	imageWorkDirEnv     = "NODECTL_WORK_DIR"
	imageInsecureEnv    = "NODECTL_INSECURE_REGISTRIES"
)

// imageStoreFlags are accepted on `nodectl image` and on each subcommand, so
// both `image --work-dir X ls` and `image ls --work-dir X` work. They have
// no EnvVars: imageFlag applies the environment after the command line.
func imageStoreFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "work-dir", Usage: "node work directory; the store is <work-dir>/images (env " + imageWorkDirEnv + ", default " + imageDefaultWorkDir + ")"},
		&cli.StringFlag{Name: "insecure-registries", Usage: "comma-separated registry hosts[:port] that may be reached over plain HTTP (env " + imageInsecureEnv + ")"},
	}
}

// imageCommand is `nodectl image`: the node's image store from the command
// line. It may run while the agent runs; the store locks itself.
func imageCommand() *cli.Command {
	sub := func(c *cli.Command) *cli.Command {
		c.Flags = append(c.Flags, imageStoreFlags()...)
		return c
	}
	return &cli.Command{
		Name:  "image",
		Usage: "manage the node's container images (pull, load, import, ls, rm, gc)",
		Flags: imageStoreFlags(),
		Subcommands: []*cli.Command{
			sub(&cli.Command{Name: "pull", Usage: "pull an image from a registry", ArgsUsage: "REF", Action: imageAction(1, imagePull)}),
			sub(&cli.Command{Name: "load", Usage: "load the images of a docker-save or OCI layout archive (.tar or .tar.gz)", ArgsUsage: "FILE", Action: imageAction(1, imageLoad)}),
			sub(&cli.Command{Name: "import", Usage: "make a single-layer image of a rootfs tarball", ArgsUsage: "ROOTFS.tar[.gz] NAME[:TAG]", Action: imageAction(2, imageImport)}),
			sub(&cli.Command{Name: "ls", Aliases: []string{"list"}, Usage: "list stored images", Flags: listFlags(), Action: imageAction(0, imageList)}),
			sub(&cli.Command{Name: "rm", Aliases: []string{"remove"}, Usage: "remove an image name (blobs go at the next gc)", ArgsUsage: "REF|DIGEST", Action: imageAction(1, imageRemove)}),
			sub(&cli.Command{Name: "gc", Usage: "delete blobs and layers no image name or container uses", Action: imageAction(0, imageGC)}),
		},
	}
}

// imageFlag resolves a store flag: the innermost command line that set it,
// then the environment, then the default.
func imageFlag(c *cli.Context, flagName, env, def string) string {
	for _, cc := range c.Lineage() {
		if slices.Contains(cc.LocalFlagNames(), flagName) {
			return cc.String(flagName)
		}
	}
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}

// openImageStore opens <work_dir>/images with the resolved flags.
func openImageStore(c *cli.Context) (*image.Store, error) {
	workDir := imageFlag(c, "work-dir", imageWorkDirEnv, imageDefaultWorkDir)
	var insecure []string
	for _, r := range strings.Split(imageFlag(c, "insecure-registries", imageInsecureEnv, ""), ",") {
		if r = strings.TrimSpace(r); r != "" {
			insecure = append(insecure, r)
		}
	}
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := image.New(image.Config{Dir: filepath.Join(workDir, "images"), InsecureRegistries: insecure, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open image store in %s: %w", workDir, err)
	}
	return s, nil
}

// imageArgs checks the argument count and returns the arguments.
func imageArgs(c *cli.Context, n int) ([]string, error) {
	if c.NArg() != n {
		return nil, cli.Exit(fmt.Sprintf("usage: nodectl image %s %s", c.Command.Name, c.Command.ArgsUsage), 2)
	}
	return c.Args().Slice(), nil
}

// imageAction wraps a subcommand taking n arguments: it checks them, opens
// the store and gives the body a context that SIGINT/SIGTERM cancel.
func imageAction(n int, body func(ctx context.Context, c *cli.Context, s *image.Store, args []string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		args, err := imageArgs(c, n)
		if err != nil {
			return err
		}
		s, err := openImageStore(c)
		if err != nil {
			return err
		}
		ctx, stop := imageContext(c)
		defer stop()
		return body(ctx, c, s, args)
	}
}

// imageContext is the command's context, cancelled by SIGINT/SIGTERM so an
// interrupted pull cleans up after itself.
func imageContext(c *cli.Context) (context.Context, context.CancelFunc) {
	parent := c.Context
	if parent == nil {
		parent = context.Background()
	}
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

func imagePull(ctx context.Context, c *cli.Context, s *image.Store, args []string) error {
	var progress image.ProgressFunc
	var bar *pullProgress
	if w, ok := c.App.Writer.(*os.File); ok && imageIsTerminal(w) {
		bar = &pullProgress{w: w, ref: args[0], layers: map[string]image.Progress{}}
		progress = bar.update
	}
	img, err := s.Pull(ctx, args[0], progress)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "pulled %s %s (%d layers, %s)\n", img.Ref, img.Digest, len(img.Layers), imageSize(img.Size))
	return nil
}

func imageLoad(ctx context.Context, c *cli.Context, s *image.Store, args []string) error {
	imgs, err := s.Load(ctx, args[0])
	if err != nil {
		return err
	}
	for _, img := range imgs {
		fmt.Fprintf(c.App.Writer, "loaded %s %s\n", img.Ref, img.Digest)
	}
	return nil
}

func imageImport(ctx context.Context, c *cli.Context, s *image.Store, args []string) error {
	img, err := s.Import(ctx, args[0], args[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "imported %s %s\n", img.Ref, img.Digest)
	return nil
}

func imageList(ctx context.Context, c *cli.Context, s *image.Store, args []string) error {
	format, err := listFormat(c)
	if err != nil {
		return err
	}
	imgs, err := s.List(ctx)
	if err != nil {
		return err
	}
	switch {
	case format == "quiet":
		for _, img := range imgs {
			fmt.Fprintln(c.App.Writer, img.Ref)
		}
		return nil
	case structured(format):
		type row struct {
			Ref     string    `json:"ref"`
			Name    string    `json:"name"`
			Digest  string    `json:"digest"`
			Size    int64     `json:"size"`
			Created time.Time `json:"created"`
		}
		rows := []row{}
		for _, img := range imgs {
			rows = append(rows, row{img.Ref, img.Name, img.Digest.String(), img.Size, img.Created})
		}
		b, err := json.Marshal(rows)
		if err != nil {
			return err
		}
		return writeFormatted(c.App.Writer, format, b)
	}
	return writeImageTable(c.App.Writer, imgs, time.Now())
}

// writeImageTable renders `image ls`: names as the user typed them.
func writeImageTable(w io.Writer, imgs []image.Image, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY:TAG\tDIGEST\tSIZE\tCREATED")
	for _, img := range imgs {
		short := img.Digest.Hex
		if len(short) > 12 {
			short = short[:12]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", img.Ref, short, imageSize(img.Size), imageAge(img.Created, now))
	}
	return tw.Flush()
}

func imageRemove(ctx context.Context, c *cli.Context, s *image.Store, args []string) error {
	removed, err := s.Remove(ctx, args[0])
	if err != nil {
		return err
	}
	for _, img := range removed {
		fmt.Fprintf(c.App.Writer, "removed %s %s\n", img.Ref, img.Digest)
	}
	return nil
}

func imageGC(ctx context.Context, c *cli.Context, s *image.Store, args []string) error {
	st, err := s.GC(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "deleted %d blobs (%s) and %d unpacked layers; dropped %d stale leases\n",
		st.Blobs, imageSize(st.BytesFreed), st.Layers, st.Leases)
	return nil
}

// imageSize renders bytes like `docker images` does (decimal units).
func imageSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, suffix := float64(n), ""
	for _, s := range []string{"kB", "MB", "GB", "TB"} {
		f /= unit
		suffix = s
		if f < unit {
			break
		}
	}
	return fmt.Sprintf("%.1f %s", f, suffix)
}

// imageAge renders how long ago t was ("3 minutes ago").
func imageAge(t, now time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	d := now.Sub(t)
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, unit)
	}
	switch {
	case d < time.Minute:
		return "less than a minute ago"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour")
	case d < 60*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	case d < 2*365*24*time.Hour:
		return plural(int(d/(30*24*time.Hour)), "month")
	}
	return plural(int(d/(365*24*time.Hour)), "year")
}

func imageIsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// pullProgress draws one status line, rewritten in place, at most ten times
// a second. The store serializes calls to update.
type pullProgress struct {
	w      io.Writer
	ref    string
	layers map[string]image.Progress
	drawn  time.Time
	width  int
}

func (p *pullProgress) update(u image.Progress) {
	p.layers[u.Layer.String()] = u
	if time.Since(p.drawn) < 100*time.Millisecond {
		return
	}
	p.draw()
}

func (p *pullProgress) draw() {
	p.drawn = time.Now()
	var done, total int64
	complete, count := 0, len(p.layers)
	for _, l := range p.layers {
		count = max(count, l.Layers)
		done += l.Done
		if l.Total > 0 {
			total += l.Total
		}
		if l.Total >= 0 && l.Done >= l.Total {
			complete++
		}
	}
	line := fmt.Sprintf("pulling %s: %d/%d layers, %s / %s", p.ref, complete, count, imageSize(done), imageSize(total))
	pad := ""
	if n := p.width - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	p.width = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
}

func (p *pullProgress) finish() {
	if len(p.layers) > 0 {
		p.draw()
		fmt.Fprintln(p.w)
	}
}
