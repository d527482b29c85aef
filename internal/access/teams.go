package access

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cerberus-iam/cerberus/internal/apperr"
	"github.com/cerberus-iam/cerberus/internal/db"
	"github.com/cerberus-iam/cerberus/internal/event"
	"github.com/cerberus-iam/cerberus/internal/patch"
)

// Team is a team as the administration API shows it. Teams group people;
// they grant no permissions.
type Team struct {
	ID             string       `json:"id"`
	OrganisationID string       `json:"organisationId"`
	Name           string       `json:"name"`
	Slug           string       `json:"slug"`
	Description    *string      `json:"description"`
	Members        []TeamMember `json:"members"`
	CreatedAt      Timestamp    `json:"createdAt"`
	UpdatedAt      Timestamp    `json:"updatedAt"`
}

// TeamMember is a live user in a team.
type TeamMember struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

// TeamSorts maps the sort fields of the team list to their columns.
var TeamSorts = map[string]string{"name": "t.name", "slug": "t.slug",
	"createdAt": "t.created_at"}

// TeamQuery selects teams: a page and an optional name or slug fragment.
type TeamQuery struct {
	Page Page
	Q    string
}

// TeamCreate is the body of a team creation.
type TeamCreate struct {
	Name        string  `json:"name"`
	Slug        string  `json:"slug"`
	Description *string `json:"description"`
}

// TeamPatch is the body of a team update; absent members stay.
type TeamPatch struct {
	Name        patch.Field[string] `json:"name"`
	Description patch.Field[string] `json:"description"`
}

// Errors of the team rules.
var (
	errTeamNotFound  = apperr.NotFoundf("Team")
	errTeamSlugTaken = apperr.New(apperr.Conflict, "Team slug already exists")
	errNotMember     = apperr.New(apperr.NotFound, "User is not a member of this team")
	errUserNotFound  = apperr.NotFoundf("User")
	errUserRequired  = apperr.InvalidInput(apperr.Field("userId", apperr.CodeRequired,
		"Required"))
)

const teamColumns = `t.id, t.organisation_id, t.name, t.slug, t.description,
	t.created_at, t.updated_at`

func scanTeam(sc interface{ Scan(...any) error }) (*Team, error) {
	t := &Team{Members: []TeamMember{}}
	var created, updated time.Time
	err := sc.Scan(&t.ID, &t.OrganisationID, &t.Name, &t.Slug, &t.Description,
		db.Time(&created), db.Time(&updated))
	if err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = Stamp(created), Stamp(updated)
	return t, nil
}

// ListTeams returns a page of an organisation's teams and their total.
func (s *Service) ListTeams(ctx context.Context, orgID string, q TeamQuery) ([]Team, int,
	error) {
	where := ` FROM teams t WHERE t.organisation_id = $1`
	args := []any{orgID}
	if q.Q != "" {
		where += ` AND (LOWER(t.name) LIKE $2 ESCAPE '\' OR t.slug LIKE $2 ESCAPE '\')`
		args = append(args, Like(q.Q))
	}
	total, err := count(ctx, s.db, `SELECT COUNT(*)`+where, args...)
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+teamColumns+where+
		q.Page.OrderBy(TeamSorts, "t.id")+fmt.Sprintf(" LIMIT %d OFFSET %d",
		q.Page.Limit, q.Page.Offset()), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list teams: %w", err)
	}
	teams, err := collectTeams(rows)
	if err != nil {
		return nil, 0, err
	}
	return teams, total, fillMembers(ctx, s.db, teams)
}

func collectTeams(rows *sql.Rows) ([]Team, error) {
	defer rows.Close()
	out := []Team{}
	for rows.Next() {
		t, err := scanTeam(rows)
		if err != nil {
			return nil, fmt.Errorf("scan team: %w", err)
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// fillMembers loads the live members of teams, by email.
func fillMembers(ctx context.Context, q db.Querier, teams []Team) error {
	if len(teams) == 0 {
		return nil
	}
	ids := make([]string, len(teams))
	at := map[string]*Team{}
	for i := range teams {
		ids[i] = teams[i].ID
		at[teams[i].ID] = &teams[i]
	}
	rows, err := q.QueryContext(ctx, `SELECT tm.team_id, u.id, u.email, u.name
		FROM team_members tm JOIN users u ON u.id = tm.user_id
		WHERE u.deleted_at IS NULL AND tm.team_id IN (`+Placeholders(1, len(ids))+`)
		ORDER BY u.email`, Args(ids)...)
	if err != nil {
		return fmt.Errorf("read team members: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var team string
		var m TeamMember
		if err := rows.Scan(&team, &m.ID, &m.Email, &m.Name); err != nil {
			return fmt.Errorf("scan team member: %w", err)
		}
		at[team].Members = append(at[team].Members, m)
	}
	return rows.Err()
}

// Team returns a team of the organisation: 404 "Team not found".
func (s *Service) Team(ctx context.Context, orgID, id string) (*Team, error) {
	return readTeam(ctx, s.db, orgID, id)
}

func readTeam(ctx context.Context, q db.Querier, orgID, id string) (*Team, error) {
	if !db.ValidID(id) {
		return nil, errTeamNotFound
	}
	t, err := scanTeam(q.QueryRowContext(ctx, `SELECT `+teamColumns+` FROM teams t
		WHERE t.id = $1 AND t.organisation_id = $2`, id, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errTeamNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read team %s: %w", id, err)
	}
	teams := []Team{*t}
	if err := fillMembers(ctx, q, teams); err != nil {
		return nil, err
	}
	return &teams[0], nil
}

// ref is the team's webhook reference {id, name, slug}.
func (t *Team) ref() map[string]any {
	return map[string]any{"id": t.ID, "name": t.Name, "slug": t.Slug}
}

// teamEvent records an audit entry about a team with its webhook.
func (s *Service) teamEvent(ctx context.Context, tx *sql.Tx, t *Team, audit, hook string,
	meta map[string]any) error {
	return s.events.Record(ctx, tx, event.Event{Type: audit,
		OrganisationID: t.OrganisationID, ResourceType: "team", ResourceID: t.ID,
		Metadata: meta,
		Webhooks: []event.Webhook{{Type: hook, Data: map[string]any{"team": t.ref()}}}})
}

// CreateTeam creates a team without members (audit and webhook
// team.created). Errors: 400 "Invalid input", 409 "Team slug already
// exists".
func (s *Service) CreateTeam(ctx context.Context, orgID string, in TeamCreate) (*Team,
	error) {
	var c checker
	in.Name = c.Text("name", in.Name, maxName)
	in.Slug = c.slug("slug", in.Slug)
	in.Description = c.optional("description", in.Description, maxDescription)
	if err := c.Err(); err != nil {
		return nil, err
	}
	now := s.clock()
	t := &Team{ID: db.NewID(), OrganisationID: orgID, Name: in.Name, Slug: in.Slug,
		Description: in.Description, Members: []TeamMember{}, CreatedAt: Stamp(now),
		UpdatedAt: Stamp(now)}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO teams (id, organisation_id, name, slug,
			description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)`,
			t.ID, orgID, t.Name, t.Slug, t.Description, now)
		if s.db.Dialect.IsUniqueViolation(err) {
			return errTeamSlugTaken
		}
		if err != nil {
			return fmt.Errorf("create team: %w", err)
		}
		return s.teamEvent(ctx, tx, t, "team.created", "team.created", nil)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// UpdateTeam changes a team's name or description (audit and webhook
// team.updated). Errors: 404 "Team not found", 400 "Invalid input".
func (s *Service) UpdateTeam(ctx context.Context, orgID, id string, p TeamPatch) (*Team,
	error) {
	var c checker
	name := ""
	if notNull(&c, "name", p.Name) {
		name = c.Text("name", p.Name.Value, maxName)
	}
	var desc *string
	if p.Description.Set {
		desc = c.optional("description", p.Description.Ptr(), maxDescription)
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	var team *Team
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := lockRow(ctx, s.db, tx, "teams", orgID, id); err != nil {
			return err
		}
		t, err := readTeam(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		team = t
		var changes []string
		if p.Name.Set && name != t.Name {
			t.Name, changes = name, append(changes, "name")
		}
		if p.Description.Set && !slices.Equal(ptrSlice(desc), ptrSlice(t.Description)) {
			t.Description, changes = desc, append(changes, "description")
		}
		if len(changes) == 0 {
			return nil
		}
		return s.saveTeam(ctx, tx, t, changes)
	})
	return team, err
}

func (s *Service) saveTeam(ctx context.Context, tx *sql.Tx, t *Team, changes []string) error {
	now := s.clock()
	res, err := tx.ExecContext(ctx, `UPDATE teams SET name = $1, description = $2,
		updated_at = $3 WHERE id = $4 AND organisation_id = $5`, t.Name, t.Description, now,
		t.ID, t.OrganisationID)
	if err != nil {
		return fmt.Errorf("update team: %w", err)
	}
	if !affected(res) {
		return errTeamNotFound // deleted since t was read
	}
	t.UpdatedAt = Stamp(now)
	return s.teamEvent(ctx, tx, t, "team.updated", "team.updated",
		map[string]any{"changes": changes})
}

// DeleteTeam deletes a team; its members keep their accounts and roles
// (audit and webhook team.deleted). Error: 404 "Team not found".
func (s *Service) DeleteTeam(ctx context.Context, orgID, id string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		t, err := readTeam(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM teams WHERE id = $1
			AND organisation_id = $2`, t.ID, orgID)
		if err != nil {
			return fmt.Errorf("delete team: %w", err)
		}
		if !affected(res) {
			return errTeamNotFound // a concurrent request deleted it first
		}
		return s.teamEvent(ctx, tx, t, "team.deleted", "team.deleted", nil)
	})
}

// AddMember adds a live user of the organisation to a team (audit
// team.member_added, webhook team.updated) and reports whether it was
// added; adding a member again changes nothing. Errors: 400 "Invalid
// input" (no userId), 404 "Team not found", 404 "User not found".
func (s *Service) AddMember(ctx context.Context, orgID, teamID, userID string) (bool,
	error) {
	if userID == "" {
		return false, errUserRequired
	}
	added := false
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		t, err := s.teamAndUser(ctx, tx, orgID, teamID, userID)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(t.Members, func(m TeamMember) bool { return m.ID == userID }) {
			return nil
		}
		// A concurrent request may have added the member since t was read.
		added, err = AddLink(ctx, s.db, tx, TeamMemberLinks, t.ID, userID, s.clock(),
			errTeamNotFound)
		if err != nil || !added {
			return err
		}
		return s.teamEvent(ctx, tx, t, "team.member_added", "team.updated",
			map[string]any{"userId": userID})
	})
	return added, err
}

// teamAndUser reads a team and checks the user is a live user of the
// organisation.
func (s *Service) teamAndUser(ctx context.Context, q db.Querier, orgID, teamID,
	userID string) (*Team, error) {
	t, err := readTeam(ctx, q, orgID, teamID)
	if err != nil {
		return nil, err
	}
	if !db.ValidID(userID) {
		return nil, errUserNotFound
	}
	ok, err := exists(ctx, q, `SELECT 1 FROM users WHERE id = $1 AND organisation_id = $2
		AND deleted_at IS NULL`, userID, orgID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errUserNotFound
	}
	return t, nil
}

// RemoveMember removes a user from a team (audit team.member_removed,
// webhook team.updated). Errors: 400 "Invalid input" (no userId), 404
// "Team not found", 404 "User not found", 404 "User is not a member of
// this team".
func (s *Service) RemoveMember(ctx context.Context, orgID, teamID, userID string) error {
	if userID == "" {
		return errUserRequired
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		t, err := s.teamAndUser(ctx, tx, orgID, teamID, userID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM team_members WHERE team_id = $1
			AND user_id = $2`, t.ID, userID)
		if err != nil {
			return fmt.Errorf("remove team member: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNotMember
		}
		t.Members = slices.DeleteFunc(t.Members, func(m TeamMember) bool {
			return m.ID == userID
		})
		return s.teamEvent(ctx, tx, t, "team.member_removed", "team.updated",
			map[string]any{"userId": userID})
	})
}
