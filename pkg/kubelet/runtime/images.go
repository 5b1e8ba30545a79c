package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime/registries"
)

// ImageService manages the images of a containerd namespace: pulls (with
// the node's registries.yaml), imports, listing and removal. A Runtime has
// one; `skiff image` uses one alone, without re-adopting containers.
type ImageService struct {
	client      *containerd.Client
	namespace   string
	snapshotter string
	registries  *registries.Registries

	// userFilesDir keeps a copy of each image's /etc/passwd and /etc/group
	// (imageusers.go); none when empty. userFilesMu is held for reading
	// while a copy is made and read, for writing while copies are pruned.
	userFilesDir  string
	userFilesMu   sync.RWMutex
	userFilesCopy singleflight.Group

	mu sync.Mutex
	// content is what the manifests of local images say, by manifest
	// digest: content is addressed by its digest, so it is read once, not
	// on every pod start and node status. ListImages drops the digests no
	// image names any more.
	content map[digest.Digest]*imageContent
}

// imageContent is what an image's manifest and config give.
type imageContent struct {
	id      string // the config digest
	size    int64
	config  ocispec.ImageConfig
	chainID string
}

// NewImageService manages the images of namespace (DefaultNamespace when
// empty), unpacked with snapshotter (DefaultSnapshotter when empty).
func NewImageService(client *containerd.Client, namespace, snapshotter string, regs *registries.Registries) *ImageService {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	if snapshotter == "" {
		snapshotter = DefaultSnapshotter
	}
	return &ImageService{client: client, namespace: namespace, snapshotter: snapshotter, registries: regs,
		content: map[digest.Digest]*imageContent{}}
}

func (r *ImageService) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.namespace)
}

// Image is a local image as the kubelet sees it (node.status.images,
// containerStatus.imageID). An image is identified by its config digest; the
// names that point at it are its repo tags and digests.
type Image struct {
	// ID is the image's config digest ("sha256:…").
	ID          string
	RepoTags    []string
	RepoDigests []string
	// Size is the size of the image's content (manifest, config, compressed layers).
	Size int64
	// Config is the image's runtime configuration (entrypoint, env, user, …).
	Config ocispec.ImageConfig
	// chainID names the snapshot of the image's unpacked layers, a
	// container's snapshot's parent.
	chainID string
	// Pinned images are never garbage collected (PinnedImageLabel).
	Pinned bool
}

// Auth holds registry credentials as the kubelet gets them from
// imagePullSecrets (a docker config entry).
type Auth = registries.AuthConfig

// Reasons the kubelet reports for image problems (container waiting reasons).
var (
	ErrImagePull       = errors.New("ErrImagePull")
	ErrImageNeverPull  = errors.New("ErrImageNeverPull")
	ErrInvalidImageRef = errors.New("InvalidImageName")
)

// ImageError is an image problem with the kubelet's reason (Reason) and the
// message shown in the container's waiting state.
type ImageError struct {
	Reason  error
	Message string
	Err     error
}

func (e *ImageError) Error() string { return e.Message }

// Is lets errors.Is(err, ErrImagePull) find the reason.
func (e *ImageError) Is(target error) bool { return target == e.Reason }

func (e *ImageError) Unwrap() error { return e.Err }

// NormalizeImageRef returns the full reference of an image name as
// containerd stores it: "busybox" → "docker.io/library/busybox:latest".
// Digests are kept; a tag is added only when there is neither.
func NormalizeImageRef(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", &ImageError{Reason: ErrInvalidImageRef, Message: fmt.Sprintf("Failed to apply default image tag %q: %v", ref, err), Err: err}
	}
	return reference.TagNameOnly(named).String(), nil
}

// EnsureImage makes the image present according to the pull policy and
// returns it, as the kubelet's image manager does.
func (r *ImageService) EnsureImage(ctx context.Context, ref string, policy corev1.PullPolicy, auth *Auth) (*Image, error) {
	if policy == "" {
		policy = corev1.PullIfNotPresent
	}
	if policy != corev1.PullAlways {
		img, err := r.GetImage(ctx, ref)
		if err == nil {
			return img, nil
		}
		if !errdefs.IsNotFound(err) {
			return nil, err
		}
		if policy == corev1.PullNever {
			return nil, &ImageError{Reason: ErrImageNeverPull,
				Message: fmt.Sprintf("Container image %q is not present with pull policy of Never", ref)}
		}
	}
	return r.PullImage(ctx, ref, auth)
}

// PullImage pulls and unpacks an image. Failures are ErrImagePull
// ImageErrors carrying the registry's message.
func (r *ImageService) PullImage(ctx context.Context, ref string, auth *Auth) (*Image, error) {
	ctx = r.ctx(ctx)
	named, err := NormalizeImageRef(ref)
	if err != nil {
		return nil, err
	}
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: r.registryHosts(auth)})
	_, err = r.client.Pull(ctx, named,
		containerd.WithResolver(resolver),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(r.snapshotter))
	if err != nil {
		// containerd's CRI plugin's wording, which kubectl users know.
		return nil, &ImageError{Reason: ErrImagePull,
			Message: fmt.Sprintf("failed to pull and unpack image %q: %v", named, err), Err: err}
	}
	return r.GetImage(ctx, named)
}

// registryHosts returns the endpoints of a registry host (mirrors first,
// from registries.yaml) with their credentials; the pull's credentials go to
// the image's own registry host.
func (r *ImageService) registryHosts(auth *Auth) docker.RegistryHosts {
	reg := r.registries
	if reg == nil {
		reg = &registries.Registries{}
	}
	return reg.Hosts(auth)
}

// PinnedImageLabel marks an image the kubelet's image GC never removes
// (containerd CRI's label, reported as CRI's Image.pinned).
const PinnedImageLabel = "io.cri-containerd.pinned"

const pinnedValue = "pinned"

// ImportOption changes how ImportImages imports.
type ImportOption func(*importOptions)

type importOptions struct{ pinned bool }

// WithPinned pins the imported images, as k3s pins the images it imports
// from the agent's images dir: air-gapped nodes cannot pull them back.
func WithPinned() ImportOption { return func(o *importOptions) { o.pinned = true } }

// ImportImages imports a docker-archive (`docker save`) or OCI layout tar
// and unpacks its images.
func (r *ImageService) ImportImages(ctx context.Context, tar io.Reader, opts ...ImportOption) ([]*Image, error) {
	ctx = r.ctx(ctx)
	var o importOptions
	for _, opt := range opts {
		opt(&o)
	}
	imported, err := r.client.Import(ctx, tar)
	if err != nil {
		return nil, fmt.Errorf("import images: %w", err)
	}
	var out []*Image
	seen := map[string]bool{}
	for _, i := range imported {
		if o.pinned && i.Labels[PinnedImageLabel] != pinnedValue {
			if i.Labels == nil {
				i.Labels = map[string]string{}
			}
			i.Labels[PinnedImageLabel] = pinnedValue
			updated, err := r.client.ImageService().Update(ctx, i, "labels."+PinnedImageLabel)
			if err != nil {
				return nil, fmt.Errorf("pin image %s: %w", i.Name, err)
			}
			i = updated
		}
		img := containerd.NewImage(r.client, i)
		if err := img.Unpack(ctx, r.snapshotter); err != nil {
			return nil, fmt.Errorf("unpack image %s: %w", i.Name, err)
		}
		got, err := r.GetImage(ctx, i.Name)
		if err != nil {
			return nil, err
		}
		if !seen[got.ID] {
			seen[got.ID] = true
			out = append(out, got)
		}
	}
	return out, nil
}

// GetImage returns the image a reference names: a name (normalised), or an
// image ID ("sha256:…"). A missing image is an errdefs.ErrNotFound.
func (r *ImageService) GetImage(ctx context.Context, ref string) (*Image, error) {
	ctx = r.ctx(ctx)
	if strings.HasPrefix(ref, "sha256:") {
		all, err := r.ListImages(ctx)
		if err != nil {
			return nil, err
		}
		for _, img := range all {
			if img.ID == ref {
				return img, nil
			}
		}
		return nil, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
	}
	named, err := NormalizeImageRef(ref)
	if err != nil {
		return nil, err
	}
	i, err := r.client.ImageService().Get(ctx, named)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", ref, err)
	}
	id, err := r.imageID(ctx, i)
	if err != nil {
		return nil, err
	}
	// Gather every name of the same image.
	all, err := r.client.ImageService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var same []images.Image
	for _, o := range all {
		if o.Name == i.Name || o.Target.Digest == i.Target.Digest {
			same = append(same, o)
		}
	}
	return r.describeImage(ctx, id, same)
}

// ListImages returns the local images, one per config digest.
func (r *ImageService) ListImages(ctx context.Context) ([]*Image, error) {
	ctx = r.ctx(ctx)
	all, err := r.client.ImageService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	r.forgetContent(all)
	byID := map[string][]images.Image{}
	var ids []string
	for _, i := range all {
		id, err := r.imageID(ctx, i)
		if err != nil {
			// Content missing (a pull in progress, or GC): not an image yet.
			continue
		}
		if _, ok := byID[id]; !ok {
			ids = append(ids, id)
		}
		byID[id] = append(byID[id], i)
	}
	sort.Strings(ids)
	var out []*Image
	for _, id := range ids {
		img, err := r.describeImage(ctx, id, byID[id])
		if err != nil {
			continue
		}
		out = append(out, img)
	}
	r.pruneUserFiles(out)
	return out, nil
}

// RemoveImage removes every name of the image a reference names. Removing
// a missing image succeeds, as CRI's RemoveImage does.
func (r *ImageService) RemoveImage(ctx context.Context, ref string) error {
	ctx = r.ctx(ctx)
	img, err := r.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	names := append(append([]string{}, img.RepoTags...), img.RepoDigests...)
	for i, name := range names {
		var opts []images.DeleteOpt
		if i == len(names)-1 {
			// Collect the content once the last name is gone.
			opts = append(opts, images.SynchronousDelete())
		}
		if err := r.client.ImageService().Delete(ctx, name, opts...); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove image %s: %w", name, err)
		}
	}
	return nil
}

func (r *ImageService) imageID(ctx context.Context, i images.Image) (string, error) {
	c, err := r.contentOf(ctx, i)
	if err != nil {
		return "", err
	}
	return c.id, nil
}

// contentOf reads what image record i's manifest says, once per manifest
// digest. Content that cannot be read (a pull in progress) is not kept.
func (r *ImageService) contentOf(ctx context.Context, i images.Image) (*imageContent, error) {
	r.mu.Lock()
	c := r.content[i.Target.Digest]
	r.mu.Unlock()
	if c != nil {
		return c, nil
	}
	img := containerd.NewImage(r.client, i)
	desc, err := img.Config(ctx)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", i.Name, err)
	}
	size, err := img.Size(ctx)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", i.Name, err)
	}
	spec, err := img.Spec(ctx)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", i.Name, err)
	}
	c = &imageContent{id: desc.Digest.String(), size: size, config: spec.Config,
		chainID: identity.ChainID(spec.RootFS.DiffIDs).String()}
	r.mu.Lock()
	r.content[i.Target.Digest] = c
	r.mu.Unlock()
	return c, nil
}

// forgetContent drops what is kept of manifests no record in all names.
func (r *ImageService) forgetContent(all []images.Image) {
	named := make(map[digest.Digest]bool, len(all))
	for _, i := range all {
		named[i.Target.Digest] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for d := range r.content {
		if !named[d] {
			delete(r.content, d)
		}
	}
}

// cloneConfig copies an image config deeply enough that a caller changing
// its slices and maps does not change the kept one.
func cloneConfig(c ocispec.ImageConfig) ocispec.ImageConfig {
	c.Env = slices.Clone(c.Env)
	c.Entrypoint = slices.Clone(c.Entrypoint)
	c.Cmd = slices.Clone(c.Cmd)
	c.Labels = maps.Clone(c.Labels)
	c.ExposedPorts = maps.Clone(c.ExposedPorts)
	c.Volumes = maps.Clone(c.Volumes)
	return c
}

// describeImage builds an Image from the containerd records naming it.
func (r *ImageService) describeImage(ctx context.Context, id string, records []images.Image) (*Image, error) {
	out := &Image{ID: id}
	tags, digests := map[string]bool{}, map[string]bool{}
	for _, i := range records {
		if i.Labels[PinnedImageLabel] == pinnedValue {
			out.Pinned = true
		}
		named, err := reference.ParseNormalizedNamed(i.Name)
		if err != nil {
			continue // a digest-only or otherwise bare record
		}
		if _, ok := named.(reference.Tagged); ok {
			tags[named.String()] = true
		}
		if c, ok := named.(reference.Canonical); ok {
			digests[c.String()] = true
		} else {
			digests[named.Name()+"@"+i.Target.Digest.String()] = true
		}
	}
	for t := range tags {
		out.RepoTags = append(out.RepoTags, t)
	}
	for d := range digests {
		out.RepoDigests = append(out.RepoDigests, d)
	}
	sort.Strings(out.RepoTags)
	sort.Strings(out.RepoDigests)
	if len(records) == 0 {
		return out, nil
	}
	c, err := r.contentOf(ctx, records[0])
	if err != nil {
		return nil, err
	}
	out.Size = c.size
	out.Config = cloneConfig(c.config)
	out.chainID = c.chainID
	return out, nil
}
