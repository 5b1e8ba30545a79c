package allocator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/storage"
)

// Storage keeps claims as objects in a storage.Interface, under Prefix+"/"+Name(offset).
type Storage struct {
	Store  storage.Interface
	Prefix string
	// Name and Offset map between offsets and object names; Offset's ok is false for
	// names outside the range (objects a user created for other values).
	Name   func(offset int) string
	Offset func(name string) (int, bool)
	// NewClaim builds the object that records owner's claim on name; OwnerOf reads it.
	NewClaim func(name string, owner Owner) runtime.Object
	OwnerOf  func(obj runtime.Object) Owner
	// Managed tells claims this allocator made from objects users created; nil: all are.
	Managed func(obj runtime.Object) bool
	New     func() runtime.Object
	NewList func() runtime.Object
}

var _ Backend = &Storage{}

func (s *Storage) key(offset int) string { return s.Prefix + "/" + s.Name(offset) }

// Claim implements Backend.
func (s *Storage) Claim(ctx context.Context, offset int, owner Owner) error {
	name := s.Name(offset)
	err := s.Store.Create(ctx, s.key(offset), s.NewClaim(name, owner), s.New(), 0)
	if storage.IsExist(err) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("claim %s: %w", name, err)
	}
	return nil
}

// Owner implements Backend.
func (s *Storage) Owner(ctx context.Context, offset int) (Owner, bool, error) {
	out := s.New()
	err := s.Store.Get(ctx, s.key(offset), storage.GetOptions{}, out)
	if storage.IsNotFound(err) {
		return Owner{}, false, nil
	}
	if err != nil {
		return Owner{}, false, fmt.Errorf("read claim %s: %w", s.Name(offset), err)
	}
	return s.OwnerOf(out), true, nil
}

var errNotOwner = errors.New("claim held by another owner")

// Release implements Backend.
func (s *Storage) Release(ctx context.Context, offset int, owner Owner) error {
	err := s.Store.Delete(ctx, s.key(offset), s.New(), nil,
		func(_ context.Context, obj runtime.Object) error {
			if s.OwnerOf(obj) != owner {
				return errNotOwner
			}
			return nil
		}, nil, storage.DeleteOptions{})
	if err == nil || storage.IsNotFound(err) || errors.Is(err, errNotOwner) {
		return nil
	}
	return fmt.Errorf("release %s: %w", s.Name(offset), err)
}

// Claimed implements Backend.
func (s *Storage) Claimed(ctx context.Context) ([]int, error) {
	list := s.NewList()
	if err := s.Store.GetList(ctx, s.Prefix, storage.ListOptions{Recursive: true, Predicate: storage.Everything}, list); err != nil {
		return nil, fmt.Errorf("list claims: %w", err)
	}
	var out []int
	err := meta.EachListItem(list, func(obj runtime.Object) error {
		m, err := meta.Accessor(obj)
		if err != nil {
			return err
		}
		if off, ok := s.Offset(m.GetName()); ok {
			out = append(out, off)
		}
		return nil
	})
	return out, err
}

// Claim is one stored claim: its offset, owner and when it was made.
type Claim struct {
	Offset  int
	Owner   Owner
	Created time.Time
	// Managed is false for objects a user created, which repairs leave alone.
	Managed bool
}

// Claims lists the stored claims of the range.
func (s *Storage) Claims(ctx context.Context) ([]Claim, error) {
	list := s.NewList()
	if err := s.Store.GetList(ctx, s.Prefix, storage.ListOptions{Recursive: true, Predicate: storage.Everything}, list); err != nil {
		return nil, fmt.Errorf("list claims: %w", err)
	}
	var out []Claim
	err := meta.EachListItem(list, func(obj runtime.Object) error {
		m, err := meta.Accessor(obj)
		if err != nil {
			return err
		}
		if off, ok := s.Offset(m.GetName()); ok {
			out = append(out, Claim{Offset: off, Owner: s.OwnerOf(obj), Created: m.GetCreationTimestamp().Time,
				Managed: s.Managed == nil || s.Managed(obj)})
		}
		return nil
	})
	return out, err
}
