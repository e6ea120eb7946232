package contracttest

import (
	"encoding/json"

	"github.com/k3sync/k3sync/internal/model"
)

// CloneModel returns a deep copy of a tenant's model, for a harness's
// mutators (Without, Change, Protected) to edit and render again.
func CloneModel(m *model.Tenant) *model.Tenant {
	b, err := json.Marshal(m)
	if err != nil {
		panic("contracttest: clone tenant " + m.Name + ": " + err.Error())
	}
	out := &model.Tenant{}
	if err := json.Unmarshal(b, out); err != nil {
		panic("contracttest: clone tenant " + m.Name + ": " + err.Error())
	}
	out.Dir, out.Files = m.Dir, m.Files
	return out
}
