package sequence

import (
	"fmt"
	"strings"

	"github.com/sendwell/sendwell/shared/errs"
)

// checkGraph holds the steps to the graph rules: every target names a step
// and only a wait names itself; every step is reachable from the first; every
// cycle passes through a wait.
func (d *Definition) checkGraph() error {
	for i := range d.Steps {
		s := &d.Steps[i]
		for _, t := range s.Targets() {
			path := fmt.Sprintf("steps[%d].%s", i, t.Field)
			if _, ok := d.index[t.ID]; !ok {
				return invalid(path, "names the step '%s', and there is no such step.", t.ID)
			}
			if t.ID == s.ID && s.Type != StepWait {
				return invalid(path, "cannot name its own step '%s': only a wait step may loop on itself.", s.ID)
			}
		}
	}
	reached := make([]bool, len(d.Steps))
	reached[0] = true
	queue := []int{0}
	for len(queue) > 0 {
		s := &d.Steps[queue[0]]
		queue = queue[1:]
		for _, t := range s.Targets() {
			if j := d.index[t.ID]; !reached[j] {
				reached[j] = true
				queue = append(queue, j)
			}
		}
	}
	for i, ok := range reached {
		if !ok {
			return errs.Invalid(fmt.Sprintf("steps[%d]", i), "The step '%s' (steps[%d]) cannot be reached from the first step '%s'.",
				d.Steps[i].ID, i, d.Steps[0].ID)
		}
	}
	return d.waitlessCycle()
}

// waitlessCycle finds a cycle among the steps that are not waits: a journey
// caught in it would run without ever pausing.
func (d *Definition) waitlessCycle() error {
	const (
		unseen = iota
		open
		done
	)
	state := make([]int, len(d.Steps))
	var stack []int
	var visit func(i int) error
	visit = func(i int) error {
		state[i] = open
		stack = append(stack, i)
		for _, t := range d.Steps[i].Targets() {
			j := d.index[t.ID]
			if d.Steps[j].Type == StepWait {
				continue
			}
			switch state[j] {
			case open:
				var loop []string
				for k := len(stack) - 1; k >= 0; k-- {
					if stack[k] == j {
						for _, n := range stack[k:] {
							loop = append(loop, d.Steps[n].ID)
						}
						break
					}
				}
				loop = append(loop, d.Steps[j].ID)
				path := fmt.Sprintf("steps[%d].%s", i, t.Field)
				return invalid(path, "closes a loop without a wait step (%s): a loop must pass through a wait step.", strings.Join(loop, " → "))
			case unseen:
				if err := visit(j); err != nil {
					return err
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
		return nil
	}
	for i := range d.Steps {
		if state[i] == unseen && d.Steps[i].Type != StepWait {
			if err := visit(i); err != nil {
				return err
			}
		}
	}
	return nil
}
