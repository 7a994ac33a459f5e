//! The built-in sample workspace: realistic docs, pages and typed tables, generated
//! deterministically so tests can rely on them.

use serde_json::json;

use super::model::*;

/// People in the demo workspace.
pub const PEOPLE: [Person; 6] = [
    Person {
        name: "Demo User",
        email: "demo@example.com",
    },
    Person {
        name: "Ada Lovelace",
        email: "ada@example.com",
    },
    Person {
        name: "Grace Hopper",
        email: "grace@example.com",
    },
    Person {
        name: "Alan Turing",
        email: "alan@example.com",
    },
    Person {
        name: "Katherine Johnson",
        email: "katherine@example.com",
    },
    Person {
        name: "Edsger Dijkstra",
        email: "edsger@example.com",
    },
];

/// Number of rows in the large `Tasks` table.
pub const TASK_ROWS: usize = 180;

/// The "Project Plan" doc's ID (the doc-scoped demo token's one doc).
pub const PLAN_DOC: &str = "AbCDeFGH01";

const T0: &str = "2026-01-05T09:00:00.000Z";

/// A tiny deterministic generator so the sample is the same on every run.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

fn person(i: usize) -> Cell {
    let p = &PEOPLE[i % PEOPLE.len()];
    Cell::Person {
        name: p.name.into(),
        email: p.email.into(),
    }
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_owned())
}

fn col(id: &str, name: &str, kind: ColumnType) -> Column {
    Column {
        id: id.into(),
        name: name.into(),
        kind,
        options: vec![],
        lookup_table: None,
        display: false,
    }
}

fn page(
    id: &str,
    name: &str,
    subtitle: &str,
    icon: &'static str,
    parent: Option<&str>,
    lines: &[(&str, &str)],
) -> Page {
    Page {
        id: id.into(),
        name: name.into(),
        subtitle: subtitle.into(),
        icon: icon.into(),
        hidden: false,
        parent: parent.map(str::to_owned),
        lines: lines
            .iter()
            .enumerate()
            .map(|(i, (style, text))| Line {
                id: format!("cl-{}-{i}", id.trim_start_matches("canvas-")),
                style: style.to_string(),
                text: text.to_string(),
            })
            .collect(),
        created_at: T0.into(),
        updated_at: T0.into(),
    }
}

fn rows(cells: Vec<Vec<Cell>>, id_prefix: &str) -> Vec<Row> {
    cells
        .into_iter()
        .enumerate()
        .map(|(i, cells)| Row {
            id: format!("i-{id_prefix}{i:04}"),
            cells,
            created_at: format!("2026-01-{:02}T10:00:00.000Z", 5 + i % 20),
            updated_at: format!("2026-02-{:02}T10:00:00.000Z", 1 + i % 25),
            index: i,
            changed: 0,
        })
        .collect()
}

fn table(id: &str, name: &str, page_id: &str, mut columns: Vec<Column>, rows: Vec<Row>) -> Table {
    columns[0].display = true;
    Table {
        id: id.into(),
        name: name.into(),
        page_id: page_id.into(),
        columns,
        rows,
        created_at: T0.into(),
        updated_at: T0.into(),
        version: 0,
    }
}

/// Builds the sample workspace.
pub fn workspace() -> Workspace {
    let mut docs = vec![project_plan(), handbook(), goals(), meeting_notes()];
    for (i, doc) in docs.iter_mut().enumerate() {
        let e = &mut doc.extras;
        e.acl = (true, i != 1, true);
        e.views = 120 + 37 * i as u64;
        e.permissions.push(
            json!({"id": format!("perm-{}-owner", doc.id), "access": "write",
            "principal": {"type": "email", "email": PEOPLE[0].email}}),
        );
        e.permissions.push(json!({"id": format!("perm-{}-team", doc.id), "access": if i == 1 { "readonly" } else { "write" },
            "principal": {"type": "domain", "domain": "example.com"}}));
    }
    let plan = &mut docs[0].extras;
    plan.formulas = vec![
        ("f-OpenTasks".into(), "OpenTasks".into(), json!(0)),
        ("f-PlanOwner".into(), "PlanOwner".into(), json!("Demo User")),
    ];
    plan.controls = vec![
        (
            "ctrl-Horizon".into(),
            "Horizon (weeks)".into(),
            "slider".into(),
            json!(6),
        ),
        (
            "ctrl-ShowDone".into(),
            "Show done".into(),
            "checkbox".into(),
            json!(false),
        ),
        (
            "ctrl-Team".into(),
            "Team".into(),
            "select".into(),
            json!("Product"),
        ),
    ];
    plan.webhook_rules = vec!["grid-auto-Notify01".into()];
    let handbook = &mut docs[1].extras;
    handbook.published = Some(
        json!({"slug": "team-handbook", "discoverable": false, "earnCredit": false,
        "mode": "view", "categories": [{"name": "Human Resources"}]}),
    );
    handbook.domains = vec![
        json!({"customDocDomain": "handbook.example.com", "setupStatus": "succeeded",
        "domainStatus": "connected", "hasCertificate": true, "hasDnsDocId": true, "lastVerifiedTimestamp": T0}),
    ];
    Workspace {
        id: "ws-Demo01".into(),
        name: "Demo Workspace".into(),
        owner: PEOPLE[0].clone(),
        docs,
        folders: vec![
            Folder {
                id: "fl-Work0001".into(),
                name: "Work".into(),
                description: "Plans and goals".into(),
                starred: true,
            },
            Folder {
                id: "fl-Team0001".into(),
                name: "Team".into(),
                description: "How we work together".into(),
                starred: false,
            },
        ],
        members: PEOPLE
            .iter()
            .enumerate()
            .map(|(i, p)| Member {
                name: p.name.into(),
                email: p.email.into(),
                role: ["Admin", "DocMaker", "Editor"][i.min(2)].into(),
            })
            .collect(),
        go_links: Vec::new(),
        organization_id: "org-Demo01".into(),
    }
}

fn project_plan() -> Doc {
    let projects = [
        "Website relaunch",
        "Mobile app",
        "Data platform",
        "Customer portal",
        "Billing revamp",
    ];
    let project_rows = rows(
        projects
            .iter()
            .enumerate()
            .map(|(i, p)| {
                vec![
                    text(p),
                    person(i + 1),
                    Cell::Number(25_000.0 * (i as f64 + 1.0)),
                    Cell::Date(format!("2026-{:02}-15", 3 + i)),
                ]
            })
            .collect(),
        "Prj",
    );
    let mut projects_table = table(
        "grid-Projects1",
        "Projects",
        "canvas-Projects",
        vec![
            col("c-PrjName", "Name", ColumnType::Text),
            col("c-PrjLead", "Lead", ColumnType::Person),
            col("c-PrjBudget", "Budget", ColumnType::Number),
            col("c-PrjLaunch", "Launch", ColumnType::Date),
        ],
        project_rows,
    );
    projects_table.updated_at = "2026-02-10T12:00:00.000Z".into();

    let statuses = ["Not started", "In progress", "Blocked", "Done"];
    let verbs = [
        "Design", "Build", "Review", "Test", "Document", "Deploy", "Plan", "Migrate", "Measure",
    ];
    let things = [
        "login page",
        "search",
        "checkout",
        "onboarding",
        "settings",
        "reports",
        "API",
        "dashboard",
        "notifications",
        "billing export",
        "sign-up flow",
        "audit log",
    ];
    let mut rng = Lcg(42);
    let task_cells = (0..TASK_ROWS)
        .map(|i| {
            let status = statuses[rng.next(statuses.len())];
            let project = rng.next(projects.len());
            vec![
                Cell::Text(format!(
                    "{} {} #{}",
                    verbs[rng.next(verbs.len())],
                    things[rng.next(things.len())],
                    i + 1
                )),
                text(status),
                person(rng.next(PEOPLE.len())),
                Cell::Date(format!(
                    "2026-{:02}-{:02}",
                    1 + rng.next(12),
                    1 + rng.next(28)
                )),
                Cell::Number((1 + rng.next(13)) as f64),
                Cell::Bool(status == "Done"),
                Cell::Ref {
                    table_id: "grid-Projects1".into(),
                    table_name: "Projects".into(),
                    row_id: format!("i-Prj{project:04}"),
                    name: projects[project].into(),
                },
                Cell::Empty,
            ]
        })
        .collect();
    let mut status = col("c-TskStatus", "Status", ColumnType::Select);
    status.options = statuses.iter().map(|s| s.to_string()).collect();
    let mut project = col("c-TskProject", "Project", ColumnType::Lookup);
    project.lookup_table = Some("grid-Projects1".into());
    let tasks = table(
        "grid-Tasks001",
        "Tasks",
        "canvas-Tasks",
        vec![
            col("c-TskName", "Task", ColumnType::Text),
            status,
            col("c-TskOwner", "Owner", ColumnType::Person),
            col("c-TskDue", "Due", ColumnType::Date),
            col("c-TskEstimate", "Estimate (h)", ColumnType::Number),
            col("c-TskDone", "Done", ColumnType::Checkbox),
            project,
            col("c-TskNotify", "Notify owner", ColumnType::Button),
        ],
        rows(task_cells, "Tsk"),
    );

    Doc {
        extras: DocExtras::default(),
        id: PLAN_DOC.into(), name: "Project Plan".into(), icon: "rocket".into(),
        folder_id: "fl-Work0001".into(), folder_name: "Work".into(),
        pages: vec![
            page("canvas-Overview", "Overview", "What we are building this year", "compass", None, &[
                ("h1", "Project Plan 2026"),
                ("paragraph", "This doc tracks every project the product team runs in 2026: goals, owners and the tasks that get us there."),
                ("h2", "How to use this doc"),
                ("bulletedList", "Add tasks in the Tasks table; set an owner and a due date."),
                ("bulletedList", "Mark a task Done when it has shipped, not when the code is merged."),
                ("bulletedList", "Budgets live in the Projects table and are reviewed monthly."),
            ]),
            page("canvas-Tasks", "Tasks", "Every task, by project", "checklist", None, &[
                ("paragraph", "All tasks for all projects. Filter by Status or Owner to find your work."),
            ]),
            page("canvas-Projects", "Projects", "Budgets and leads", "briefcase", Some("canvas-Overview"), &[
                ("paragraph", "One row per project with its lead, budget and launch date."),
            ]),
        ],
        tables: vec![tasks, projects_table],
        created_at: T0.into(), updated_at: "2026-02-20T16:30:00.000Z".into(),
    }
}

fn handbook() -> Doc {
    let roles = ["Engineer", "Designer", "Product manager", "Support"];
    let directory = rows(
        PEOPLE
            .iter()
            .enumerate()
            .map(|(i, p)| {
                vec![
                    text(p.name),
                    text(p.email),
                    text(roles[i % roles.len()]),
                    Cell::Date(format!("20{:02}-0{}-01", 18 + i, 1 + i % 9)),
                    Cell::Bool(i % 2 == 0),
                    if i == 0 { Cell::Empty } else { person(0) },
                ]
            })
            .collect(),
        "Dir",
    );
    let mut role = col("c-DirRole", "Role", ColumnType::Select);
    role.options = roles.iter().map(|s| s.to_string()).collect();
    Doc {
        extras: DocExtras::default(),
        id: "HaNdBoOk02".into(), name: "Team Handbook".into(), icon: "book".into(),
        folder_id: "fl-Team0001".into(), folder_name: "Team".into(),
        pages: vec![
            page("canvas-Welcome", "Welcome", "Start here", "wave", None, &[
                ("h1", "Welcome to the team"),
                ("paragraph", "This handbook explains how we work: our values, our tools and who to ask."),
                ("h2", "Your first week"),
                ("numberedList", "Set up your laptop and accounts."),
                ("numberedList", "Meet your manager and your onboarding buddy."),
                ("numberedList", "Ship something small by Friday."),
            ]),
            page("canvas-Benefits", "Benefits", "Time off, equipment, learning", "gift", None, &[
                ("h1", "Benefits"),
                ("paragraph", "Everyone gets 28 days of paid time off, a learning budget of 1,500 EUR a year and the equipment they need."),
                ("h2", "Remote work"),
                ("paragraph", "Work from wherever you do your best work; we meet in person once a quarter."),
            ]),
            page("canvas-Practices", "Engineering practices", "How we build", "gear", None, &[
                ("h1", "Engineering practices"),
                ("bulletedList", "Every change is reviewed by one other person."),
                ("bulletedList", "Main is always releasable; feature flags hide unfinished work."),
                ("bulletedList", "Incidents get a blameless review within a week."),
            ]),
            page("canvas-Directory", "Directory", "Who is who", "people", None, &[
                ("paragraph", "The team directory. Ask your manager to add new joiners."),
            ]),
        ],
        tables: vec![table("grid-Directory", "Team Directory", "canvas-Directory", vec![
            col("c-DirName", "Name", ColumnType::Text), col("c-DirEmail", "Email", ColumnType::Text), role,
            col("c-DirStart", "Start date", ColumnType::Date), col("c-DirRemote", "Remote", ColumnType::Checkbox),
            col("c-DirManager", "Manager", ColumnType::Person),
        ], directory)],
        created_at: "2025-06-01T08:00:00.000Z".into(), updated_at: "2026-01-15T11:00:00.000Z".into(),
    }
}

fn goals() -> Doc {
    let okrs = [
        ("Grow revenue", "Reach 2M ARR", 62.0, true),
        ("Grow revenue", "Sign 20 enterprise customers", 45.0, false),
        ("Delight customers", "NPS above 50", 80.0, true),
        (
            "Delight customers",
            "First response under 2 hours",
            71.0,
            true,
        ),
        ("Ship faster", "Weekly releases", 90.0, true),
        ("Ship faster", "Cut CI time in half", 30.0, false),
    ];
    let mut quarter = col("c-OkrQuarter", "Quarter", ColumnType::Select);
    quarter.options = vec!["Q3".into(), "Q4".into()];
    Doc {
        extras: DocExtras::default(),
        id: "Q4GoAlS003".into(),
        name: "Q4 Goals".into(),
        icon: "target".into(),
        folder_id: "fl-Work0001".into(),
        folder_name: "Work".into(),
        pages: vec![page(
            "canvas-Okrs",
            "OKRs",
            "Objectives and key results",
            "target",
            None,
            &[
                ("h1", "Q4 objectives"),
                (
                    "paragraph",
                    "Three objectives, six key results. Progress is updated every Friday.",
                ),
            ],
        )],
        tables: vec![table(
            "grid-Okrs0001",
            "Key Results",
            "canvas-Okrs",
            vec![
                col("c-OkrKr", "Key result", ColumnType::Text),
                col("c-OkrObjective", "Objective", ColumnType::Text),
                col("c-OkrProgress", "Progress (%)", ColumnType::Number),
                col("c-OkrOwner", "Owner", ColumnType::Person),
                col("c-OkrOnTrack", "On track", ColumnType::Checkbox),
                quarter,
            ],
            rows(
                okrs.iter()
                    .enumerate()
                    .map(|(i, (o, kr, p, ok))| {
                        vec![
                            text(kr),
                            text(o),
                            Cell::Number(*p),
                            person(i + 1),
                            Cell::Bool(*ok),
                            text("Q4"),
                        ]
                    })
                    .collect(),
                "Okr",
            ),
        )],
        created_at: "2025-09-20T08:00:00.000Z".into(),
        updated_at: "2026-02-27T17:00:00.000Z".into(),
    }
}

fn meeting_notes() -> Doc {
    let items = [
        (
            "Send the launch checklist to support",
            2,
            "2026-03-02",
            false,
        ),
        ("Book the quarterly offsite venue", 4, "2026-03-10", false),
        ("Update the pricing page copy", 1, "2026-02-27", true),
        (
            "Draft the incident review for the outage",
            3,
            "2026-02-25",
            true,
        ),
    ];
    Doc {
        extras: DocExtras::default(),
        id: "MeEtInG004".into(),
        name: "Meeting Notes".into(),
        icon: "notes".into(),
        folder_id: "fl-Team0001".into(),
        folder_name: "Team".into(),
        pages: vec![
            page(
                "canvas-Weekly0224",
                "Weekly sync 2026-02-24",
                "Product and engineering",
                "calendar",
                None,
                &[
                    ("h1", "Weekly sync"),
                    ("paragraph", "Attendees: Ada, Grace, Alan, Katherine."),
                    ("h2", "Decisions"),
                    ("bulletedList", "The Website relaunch moves to March 15."),
                    ("bulletedList", "We freeze the API on March 1."),
                ],
            ),
            page(
                "canvas-Retro0220",
                "Retro 2026-02-20",
                "What went well, what did not",
                "mirror",
                None,
                &[
                    ("h1", "Retrospective"),
                    (
                        "paragraph",
                        "Went well: the billing migration finished on time.",
                    ),
                    ("paragraph", "To improve: flaky tests slowed every release."),
                ],
            ),
        ],
        tables: vec![table(
            "grid-Actions01",
            "Action Items",
            "canvas-Weekly0224",
            vec![
                col("c-ActItem", "Item", ColumnType::Text),
                col("c-ActOwner", "Owner", ColumnType::Person),
                col("c-ActDue", "Due", ColumnType::Date),
                col("c-ActDone", "Done", ColumnType::Checkbox),
            ],
            rows(
                items
                    .iter()
                    .map(|(t, p, d, done)| {
                        vec![
                            text(t),
                            person(*p),
                            Cell::Date(d.to_string()),
                            Cell::Bool(*done),
                        ]
                    })
                    .collect(),
                "Act",
            ),
        )],
        created_at: "2025-11-02T08:00:00.000Z".into(),
        updated_at: "2026-02-24T18:00:00.000Z".into(),
    }
}
