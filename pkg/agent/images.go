package agent

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

// imagePollInterval is how often the images dir is looked at for new or
// changed tarballs (polling keeps it simple and works on every filesystem).
const imagePollInterval = 5 * time.Second

type fileStamp struct {
	size    int64
	modTime time.Time
}

// importer imports the tarballs of the images dir, each once per version of
// the file. What it imported is recorded in stampFile so that a restarted
// agent does not import (and unpack) the same tarballs again, which would
// delay the node's readiness.
type importer struct {
	dir       string
	rt        *runtime.Runtime
	seen      map[string]fileStamp
	stampFile string
}

type stampRecord struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modTime"`
}

// load reads the stamps of an earlier run.
func (i *importer) load() {
	b, err := os.ReadFile(i.stampFile)
	if err != nil {
		return
	}
	var recs map[string]stampRecord
	if json.Unmarshal(b, &recs) != nil {
		return
	}
	for name, r := range recs {
		i.seen[name] = fileStamp{r.Size, r.ModTime}
	}
}

func (i *importer) save() {
	recs := map[string]stampRecord{}
	for name, s := range i.seen {
		recs[name] = stampRecord{s.size, s.modTime}
	}
	b, _ := json.Marshal(recs)
	tmp := i.stampFile + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		_ = os.Rename(tmp, i.stampFile)
	}
}

func (i *importer) run(ctx context.Context) {
	t := time.NewTicker(imagePollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			i.scan(ctx)
		}
	}
}

// scan imports the tarballs that are new or changed since the last scan.
func (i *importer) scan(ctx context.Context) {
	log := klog.FromContext(ctx)
	entries, err := os.ReadDir(i.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !(strings.HasSuffix(name, ".tar") || strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".tgz")) {
			continue
		}
		// Stat follows symlinks: a link to a tarball elsewhere is imported too.
		info, err := os.Stat(filepath.Join(i.dir, name))
		if err != nil || info.IsDir() {
			continue
		}
		st := fileStamp{info.Size(), info.ModTime()}
		if old, ok := i.seen[name]; ok && old.size == st.size && old.modTime.Equal(st.modTime) {
			continue
		}
		// A file still being written changes between two scans: wait for it to settle.
		if time.Since(st.modTime) < time.Second {
			continue
		}
		path := filepath.Join(i.dir, name)
		imgs, err := i.importFile(ctx, path)
		if err != nil {
			log.Error(err, "Importing images", "file", path)
			i.seen[name] = st // not again until the file changes
			continue
		}
		var names []string
		for _, img := range imgs {
			names = append(names, img.RepoTags...)
		}
		log.Info("Imported images", "file", path, "images", names)
		i.seen[name] = st
		i.save()
	}
}

func (i *importer) importFile(ctx context.Context, path string) ([]*runtime.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// containerd's Import reads gzip as well as plain tar.
	// Pinned as k3s does: the image GC never removes what an air-gapped
	// node could not pull back.
	return i.rt.ImportImages(ctx, f, runtime.WithPinned())
}
