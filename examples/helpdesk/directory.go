package main

import (
	"context"
	"fmt"
	"sort"

	"github.com/correio-dev/correio/workflow"
)

// directory is the helpdesk's small built-in user directory. A real host
// implements workflow.Directory over its own users table or LDAP.
type directory struct {
	users  map[workflow.UserID]workflow.User
	groups map[workflow.GroupID]group
}

type group struct {
	ID      workflow.GroupID
	Name    string
	Members []workflow.UserID
}

var _ workflow.Directory = (*directory)(nil)

func builtinDirectory() *directory {
	d := &directory{users: map[workflow.UserID]workflow.User{}, groups: map[workflow.GroupID]group{}}
	for _, u := range []workflow.User{
		{ID: "ana", Name: "Ana Souza", Address: "ana.souza@cliente.example"},
		{ID: "bruno", Name: "Bruno Lima", Address: "bruno.lima@cliente.example"},
		{ID: "carla", Name: "Carla Dias", Address: "carla.dias@empresa.example"},
		{ID: "davi", Name: "Davi Rocha"}, // no address: reported, never mailed
	} {
		d.users[u.ID] = u
	}
	for _, g := range []group{
		{ID: "support", Name: "Support team / Equipe de suporte", Members: []workflow.UserID{"carla", "davi"}},
		{ID: "approvers", Name: "Approvers / Aprovadores", Members: []workflow.UserID{"bruno", "carla"}},
	} {
		d.groups[g.ID] = g
	}
	return d
}

// User implements workflow.Directory.
func (d *directory) User(_ context.Context, id workflow.UserID) (workflow.User, error) {
	u, ok := d.users[id]
	if !ok {
		return workflow.User{}, fmt.Errorf("directory: unknown user %q", id)
	}
	return u, nil
}

// GroupMembers implements workflow.Directory.
func (d *directory) GroupMembers(_ context.Context, id workflow.GroupID) ([]workflow.User, error) {
	g, ok := d.groups[id]
	if !ok {
		return nil, fmt.Errorf("directory: unknown group %q", id)
	}
	out := make([]workflow.User, 0, len(g.Members))
	for _, m := range g.Members {
		out = append(out, d.users[m])
	}
	return out, nil
}

func (d *directory) Users() []workflow.User {
	out := make([]workflow.User, 0, len(d.users))
	for _, u := range d.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (d *directory) Groups() []group {
	out := make([]group, 0, len(d.groups))
	for _, g := range d.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
