package campaigns

import (
	"testing"

	"github.com/sendwell/sendwell/shared/automation/internal/broadcasttest"
	"github.com/sendwell/sendwell/shared/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var t0 = broadcasttest.T0

const (
	org      = broadcasttest.Org
	template = broadcasttest.Template
	from     = broadcasttest.From
)

// fixture is the campaigns API over a fresh table holding an organisation
// on the pro plan with a verified domain and a template.
type fixture struct{ *broadcasttest.Fixture }

func newFixture(t *testing.T) *fixture {
	base := broadcasttest.New(t)
	NewHandlers(NewService(base.Env.Store, base.Clock), base.Cursors()).Register(base.Router)
	return &fixture{base}
}

// broadcast creates a draft broadcast to the segment (or "all").
func (f *fixture) broadcast(segmentID string, extra string) Broadcast {
	f.T.Helper()
	var b Broadcast
	f.CreateBroadcast(segmentID, extra, &b)
	return b
}
