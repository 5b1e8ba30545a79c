package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/containerd/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/pkg/agent"
	ctrd "github.com/skiff-k8s/skiff/pkg/agent/containerd"
	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

// newImageCommand is `skiff image import|ls|rm`: the node's images in the
// agent's containerd (the namespace pods run in), as crictl shows them.
func newImageCommand() *cobra.Command {
	var endpoint, runDir string
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Import, list and remove the node's container images",
		Long: `Import, list and remove the images of the node agent's containerd (namespace
` + ctrd.Namespace + `), the ones pods run from. The agent needs not be running, only its containerd.`,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&endpoint, "container-runtime-endpoint", "", "containerd socket (default: <run-dir>/containerd/containerd.sock, the agent's own)")
	f.StringVar(&runDir, "run-dir", agent.DefaultRunDir, "The agent's --run-dir")
	connect := func(ctx context.Context) (*runtime.ImageService, func(), error) {
		addr := endpoint
		if addr == "" {
			addr = filepath.Join(runDir, "containerd", "containerd.sock")
		}
		addr = strings.TrimPrefix(addr, "unix://")
		if _, err := os.Stat(addr); err != nil {
			return nil, nil, fmt.Errorf("no containerd socket at %s (is the skiff agent running? see --run-dir and --container-runtime-endpoint): %w", addr, err)
		}
		c, err := ctrd.Connect(ctx, addr)
		if err != nil {
			return nil, nil, err
		}
		return runtime.NewImageService(c, ctrd.Namespace, "", nil), func() { c.Close() }, nil
	}
	// withImages runs a subcommand with the agent containerd's images.
	withImages := func(run func(cmd *cobra.Command, images *runtime.ImageService, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			images, done, err := connect(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			return run(cmd, images, args)
		}
	}

	var pinned bool
	importCmd := &cobra.Command{
		Use:   "import TARBALL...",
		Short: "Import images from docker-archive or OCI tarballs (gzip too), '-' for stdin",
		Args:  cobra.MinimumNArgs(1),
		RunE: withImages(func(cmd *cobra.Command, images *runtime.ImageService, args []string) error {
			var opts []runtime.ImportOption
			if pinned {
				opts = append(opts, runtime.WithPinned())
			}
			return importImages(cmd.Context(), images, args, cmd.InOrStdin(), cmd.OutOrStdout(), opts...)
		}),
	}
	importCmd.Flags().BoolVar(&pinned, "pinned", false, "Pin the images: the image garbage collector never removes them (as the agent pins the tarballs of its images dir)")
	var quiet, noTrunc, digests bool
	lsCmd := &cobra.Command{
		Use:     "ls [REPOSITORY[:TAG]]",
		Aliases: []string{"list", "images"},
		Short:   "List images",
		Args:    cobra.MaximumNArgs(1),
		RunE: withImages(func(cmd *cobra.Command, images *runtime.ImageService, args []string) error {
			list, err := images.ListImages(cmd.Context())
			if err != nil {
				return err
			}
			filter := ""
			if len(args) == 1 {
				filter = args[0]
			}
			return printImages(cmd.OutOrStdout(), list, filter, printOptions{quiet: quiet, noTrunc: noTrunc, digests: digests})
		}),
	}
	lsCmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	lsCmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Show the full image ID")
	lsCmd.Flags().BoolVar(&digests, "digests", false, "Show digests")
	rmCmd := &cobra.Command{
		Use:     "rm IMAGE...",
		Aliases: []string{"rmi"},
		Short:   "Remove images by name or ID (every name of the image goes)",
		Args:    cobra.MinimumNArgs(1),
		RunE: withImages(func(cmd *cobra.Command, images *runtime.ImageService, args []string) error {
			return removeImages(cmd.Context(), images, args, cmd.OutOrStdout())
		}),
	}
	cmd.AddCommand(importCmd, lsCmd, rmCmd)
	return cmd
}

func importImages(ctx context.Context, images *runtime.ImageService, paths []string, stdin io.Reader, out io.Writer, opts ...runtime.ImportOption) error {
	for _, p := range paths {
		var r io.Reader = stdin
		if p != "-" {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		imported, err := images.ImportImages(ctx, r, opts...)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		for _, img := range imported {
			names := img.RepoTags
			if len(names) == 0 {
				names = []string{img.ID}
			}
			for _, n := range names {
				fmt.Fprintf(out, "Loaded image: %s\n", n)
			}
		}
	}
	return nil
}

func removeImages(ctx context.Context, images *runtime.ImageService, refs []string, out io.Writer) error {
	var errs []error
	for _, ref := range refs {
		img, err := resolveImage(ctx, images, ref)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := images.RemoveImage(ctx, img.ID); err != nil {
			errs = append(errs, fmt.Errorf("remove image %q: %w", ref, err))
			continue
		}
		names := append(append([]string{}, img.RepoTags...), img.RepoDigests...)
		if len(names) == 0 {
			names = []string{img.ID}
		}
		for _, n := range names {
			fmt.Fprintf(out, "Deleted: %s\n", n)
		}
	}
	return errors.Join(errs...)
}

// resolveImage finds an image by name, full ID or a unique ID prefix (as
// crictl rmi accepts the truncated IDs it prints).
func resolveImage(ctx context.Context, images *runtime.ImageService, ref string) (*runtime.Image, error) {
	img, err := images.GetImage(ctx, ref)
	if err == nil {
		return img, nil
	}
	if !errdefs.IsNotFound(err) && !errors.Is(err, runtime.ErrInvalidImageRef) {
		return nil, err
	}
	if hex := strings.TrimPrefix(ref, "sha256:"); len(hex) >= 4 && strings.Trim(hex, "0123456789abcdef") == "" {
		all, lerr := images.ListImages(ctx)
		if lerr != nil {
			return nil, lerr
		}
		var found []*runtime.Image
		for _, i := range all {
			if strings.HasPrefix(strings.TrimPrefix(i.ID, "sha256:"), hex) {
				found = append(found, i)
			}
		}
		switch len(found) {
		case 1:
			return found[0], nil
		case 0:
		default:
			return nil, fmt.Errorf("image ID prefix %q is ambiguous", ref)
		}
	}
	return nil, fmt.Errorf("no such image %q present", ref)
}

type printOptions struct{ quiet, noTrunc, digests bool }

// printImages prints images as `crictl images` does: a row per repo tag
// (or "<none>"), the ID truncated to 13 hex digits, the size in decimal units.
func printImages(out io.Writer, list []*runtime.Image, filter string, o printOptions) error {
	if filter != "" {
		named, err := reference.ParseNormalizedNamed(filter)
		if err != nil {
			return fmt.Errorf("invalid image name %q: %w", filter, err)
		}
		filter = named.String()
		if _, tagged := named.(reference.Tagged); !tagged {
			filter = named.Name()
		}
	}
	w := tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)
	if !o.quiet {
		if o.digests {
			fmt.Fprintln(w, "IMAGE\tTAG\tDIGEST\tIMAGE ID\tSIZE")
		} else {
			fmt.Fprintln(w, "IMAGE\tTAG\tIMAGE ID\tSIZE")
		}
	}
	for _, img := range list {
		id := strings.TrimPrefix(img.ID, "sha256:")
		if !o.noTrunc && len(id) > 13 {
			id = id[:13]
		} else if o.noTrunc {
			id = img.ID
		}
		type row struct{ repo, tag string }
		var rows []row
		for _, t := range img.RepoTags {
			repo, tag := t, "<none>"
			if i := strings.LastIndex(t, ":"); i > strings.LastIndex(t, "/") {
				repo, tag = t[:i], t[i+1:]
			}
			rows = append(rows, row{repo, tag})
		}
		if len(rows) == 0 {
			repo := "<none>"
			if len(img.RepoDigests) > 0 {
				repo, _, _ = strings.Cut(img.RepoDigests[0], "@")
			}
			rows = append(rows, row{repo, "<none>"})
		}
		digest := "<none>"
		if len(img.RepoDigests) > 0 {
			_, d, _ := strings.Cut(img.RepoDigests[0], "@")
			digest = strings.TrimPrefix(d, "sha256:")
			if !o.noTrunc && len(digest) > 13 {
				digest = digest[:13]
			}
		}
		if filter != "" && !matchesFilter(img, filter) {
			continue
		}
		if o.quiet {
			fmt.Fprintln(w, img.ID)
			continue
		}
		for _, r := range rows {
			if o.digests {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.repo, r.tag, digest, id, humanSize(img.Size))
			} else {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.repo, r.tag, id, humanSize(img.Size))
			}
		}
	}
	return w.Flush()
}

func matchesFilter(img *runtime.Image, filter string) bool {
	for _, t := range img.RepoTags {
		if t == filter || strings.HasPrefix(t, filter+":") {
			return true
		}
	}
	for _, d := range img.RepoDigests {
		if strings.HasPrefix(d, filter+"@") {
			return true
		}
	}
	return false
}

// humanSize writes a size with 3 significant digits in decimal units
// ("2.23MB"), as crictl does.
func humanSize(size int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	f := float64(size)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}
