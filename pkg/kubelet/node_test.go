package kubelet

import (
	"fmt"
	"testing"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

func TestNodeImages(t *testing.T) {
	var imgs []*runtime.Image
	for i := 0; i < 60; i++ {
		img := &runtime.Image{ID: fmt.Sprintf("sha256:%d", i), Size: int64(i * 100)}
		for j := 0; j < i%8; j++ {
			img.RepoTags = append(img.RepoTags, fmt.Sprintf("example.com/img%d:%d", i, j))
		}
		if i%8 != 0 {
			img.RepoDigests = []string{fmt.Sprintf("example.com/img%d@sha256:%d", i, i)}
		}
		imgs = append(imgs, img)
	}
	got := nodeImages(imgs)
	if len(got) != nodeStatusMaxImages {
		t.Fatalf("%d images, want %d", len(got), nodeStatusMaxImages)
	}
	// Largest first; images without names are left out.
	if got[0].SizeBytes != 5900 || got[0].Names[0] != "example.com/img59@sha256:59" {
		t.Errorf("first: %+v", got[0])
	}
	for i, img := range got {
		if len(img.Names) == 0 || len(img.Names) > maxNamesPerImageInNodeStatus {
			t.Errorf("image %d: %d names", i, len(img.Names))
		}
		if i > 0 && img.SizeBytes > got[i-1].SizeBytes {
			t.Errorf("not sorted by size at %d", i)
		}
	}
	if imgs[0].ID != "sha256:0" {
		t.Error("the runtime's list was reordered")
	}
}
