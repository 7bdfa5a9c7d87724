package usecase

import (
	"context"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Third-party cameras: the installer adds and edits them; the installer
// and its ancestors delete them, one or a selection at a time. Their user
// name and password are stored sealed.

func cameraStreamRequired(url string) error {
	if strings.TrimSpace(url) == "" {
		return model.Invalid("stream_url", "is required: the camera's RTSP URL, e.g. rtsp://10.0.0.5:554/stream1")
	}
	return nil
}

// CreateCamera adds a camera to a project of the caller's subtree.
func (c *Cases) CreateCamera(ctx context.Context, d *model.ThirdPartyDevice) error {
	if err := cameraStreamRequired(d.StreamURL); err != nil {
		return err
	}
	return c.internal(ctx, "adding the camera", c.store.CreateThirdPartyDevice(ctx, d))
}

// UpdateCamera changes a camera; a nil field of u keeps its value, a
// password of "" removes it. It returns the camera without credentials.
func (c *Cases) UpdateCamera(ctx context.Context, id int64, u store.CameraUpdate) (*model.ThirdPartyDevice, error) {
	if u.StreamURL != nil {
		if err := cameraStreamRequired(*u.StreamURL); err != nil {
			return nil, err
		}
	}
	d, err := c.store.UpdateThirdPartyDevice(ctx, id, u)
	return d, c.internal(ctx, "saving the camera", err)
}

// DeleteCamera deletes a camera of the caller's subtree.
func (c *Cases) DeleteCamera(ctx context.Context, id int64) error {
	return c.internal(ctx, "deleting the camera", c.store.DeleteThirdPartyDevice(ctx, id))
}

// DeleteCameras deletes a selection of cameras (at most
// store.MaxCameraBatch) in one transaction: all of them or, when one is not
// the caller's, none. It returns how many went.
func (c *Cases) DeleteCameras(ctx context.Context, ids []int64) (int, error) {
	n, err := c.store.DeleteThirdPartyDevices(ctx, ids)
	return n, c.internal(ctx, "deleting the cameras", err)
}
