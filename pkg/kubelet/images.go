package kubelet

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-k8s/skiff/pkg/kubelet/runtime"
)

// errImagePullBackOff: a pull of the image failed and the back-off has not passed.
var errImagePullBackOff = errors.New("ImagePullBackOff")

// pullBackoff is the back-off of one image's pulls for a pod, as upstream's
// image manager keeps it (per pod UID and image): 10 s after the first
// failure, doubling up to 5 min, forgotten after twice that without a failure.
type pullBackoff struct {
	delay time.Duration
	// last is when the last pull failed; msg is "<reason>: <message>" of it.
	last time.Time
	msg  string
}

// pullFailed records a failed pull of image and starts or doubles its back-off.
func (w *podWorker) pullFailed(image, msg string, now time.Time) {
	if w.pulls == nil {
		w.pulls = map[string]*pullBackoff{}
	}
	b := w.pulls[image]
	if b == nil || now.Sub(b.last) > 2*maxBackoff {
		b = &pullBackoff{delay: initialBackoff}
		w.pulls[image] = b
	} else {
		b.delay = min(2*b.delay, maxBackoff)
	}
	b.last, b.msg = now, msg
}

// pullBackoffLeft is how long pulls of image stay in back-off (0: none).
func (w *podWorker) pullBackoffLeft(image string, now time.Time) time.Duration {
	b := w.pulls[image]
	if b == nil {
		return 0
	}
	return max(b.last.Add(b.delay).Sub(now), 0)
}

// ensureImage makes the container's image present per its pull policy,
// with upstream's events, waiting reasons and pull back-off.
func (k *Kubelet) ensureImage(ctx context.Context, pod *corev1.Pod, w *podWorker, c *corev1.Container) (*runtime.Image, error) {
	if c.ImagePullPolicy != corev1.PullAlways {
		if img, err := k.rt.GetImage(ctx, c.Image); err == nil {
			k.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
			return img, nil
		}
	}
	waiting := func(reason, msg string) {
		w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: reason, Message: msg}
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %s", reason)
	}
	if c.ImagePullPolicy != corev1.PullNever {
		if w.pullBackoffLeft(c.Image, time.Now()) > 0 {
			msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
			k.recorder.Event(pod, corev1.EventTypeNormal, "BackOff", msg)
			if prev := w.pulls[c.Image].msg; prev != "" {
				msg += ": " + prev
			}
			waiting(errImagePullBackOff.Error(), msg)
			return nil, errImagePullBackOff
		}
		k.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	}
	start := time.Now()
	img, err := k.rt.EnsureImage(ctx, c.Image, c.ImagePullPolicy, k.pullAuth(ctx, pod, c.Image))
	if err != nil {
		msg := err.Error()
		var ie *runtime.ImageError
		if errors.As(err, &ie) {
			msg = ie.Message
		}
		switch {
		case errors.Is(err, runtime.ErrImageNeverPull):
			k.recorder.Event(pod, corev1.EventTypeWarning, "ErrImageNeverPull", msg)
			waiting(runtime.ErrImageNeverPull.Error(), msg)
		case errors.Is(err, runtime.ErrInvalidImageRef):
			k.recorder.Event(pod, corev1.EventTypeWarning, "InspectFailed", msg)
			waiting(runtime.ErrInvalidImageRef.Error(), msg)
		default:
			k.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %s", c.Image, msg)
			w.pullFailed(c.Image, runtime.ErrImagePull.Error()+": "+msg, time.Now())
			waiting(runtime.ErrImagePull.Error(), msg)
		}
		return nil, err
	}
	delete(w.pulls, c.Image)
	d := time.Since(start).Round(time.Millisecond)
	k.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s (%s including waiting). Image size: %d bytes.", c.Image, d, d, img.Size)
	return img, nil
}
