package controllermanager

import (
	"context"

	"github.com/skiff-k8s/skiff/pkg/controllers"
)

// controller is one entry of the manager: its upstream name and its Start.
type controller struct {
	name  string
	start func(ctx context.Context, c *controllers.Context) error
}

// all are the controllers the manager runs, by upstream's names. Each package's
// Start registers its informers and launches its workers (see pkg/controllers).
var all = []controller{
	// One line per controller, for example:
	// {"deployment", deployment.Start},
}
