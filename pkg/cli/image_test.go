package cli

import (
	"bytes"
	"testing"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

func TestPrintImages(t *testing.T) {
	list := []*runtime.Image{
		{ID: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			RepoTags:    []string{"docker.io/library/busybox:1.36", "localhost:5000/busybox:latest"},
			RepoDigests: []string{"docker.io/library/busybox@sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"},
			Size:        2234567},
		{ID: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			RepoDigests: []string{"skiff.test/untagged@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},
			Size:        999},
	}
	for _, tc := range []struct {
		filter string
		o      printOptions
		want   string
	}{
		{want: `IMAGE                       TAG                 IMAGE ID            SIZE
docker.io/library/busybox   1.36                0123456789abc       2.23MB
localhost:5000/busybox      latest              0123456789abc       2.23MB
skiff.test/untagged         <none>              aaaaaaaaaaaaa       999B
`},
		{filter: "busybox", want: `IMAGE                       TAG                 IMAGE ID            SIZE
docker.io/library/busybox   1.36                0123456789abc       2.23MB
localhost:5000/busybox      latest              0123456789abc       2.23MB
`},
		{filter: "busybox:1.35", want: "IMAGE               TAG                 IMAGE ID            SIZE\n"},
		{o: printOptions{quiet: true}, want: list[0].ID + "\n" + list[1].ID + "\n"},
		{filter: "skiff.test/untagged", o: printOptions{digests: true}, want: `IMAGE                 TAG                 DIGEST              IMAGE ID            SIZE
skiff.test/untagged   <none>              bbbbbbbbbbbbb       aaaaaaaaaaaaa       999B
`},
		{o: printOptions{digests: true, noTrunc: true}, filter: "localhost:5000/busybox", want: `IMAGE                       TAG                 DIGEST                                                             IMAGE ID                                                                  SIZE
docker.io/library/busybox   1.36                fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210   sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef   2.23MB
localhost:5000/busybox      latest              fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210   sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef   2.23MB
`},
	} {
		var b bytes.Buffer
		if err := printImages(&b, list, tc.filter, tc.o); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("filter %q %+v:\n%s\nwant\n%s", tc.filter, tc.o, b.String(), tc.want)
		}
	}
	if err := printImages(&bytes.Buffer{}, list, "Bad:Name", printOptions{}); err == nil {
		t.Error("invalid filter accepted")
	}
}

func TestHumanSize(t *testing.T) {
	for size, want := range map[int64]string{0: "0B", 999: "999B", 1000: "1kB", 12345: "12.3kB", 2234567: "2.23MB", 5e9: "5GB"} {
		if got := humanSize(size); got != want {
			t.Errorf("%d: %s, want %s", size, got, want)
		}
	}
}
