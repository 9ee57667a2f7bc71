// Entry point: the routes of the nodectl web UI (docs/ui.md lists them).
import { route, start } from './router.js';
import { overview } from './pages/overview.js';
import { appsList, appsNew } from './pages/apps.js';
import { appDetail } from './pages/app.js';
import { tasksList, taskDetail } from './pages/tasks.js';
import { agentsList, agentDetail, frameworksList, frameworkDetail } from './pages/agents.js';
import { cluster, volumes } from './pages/cluster.js';

route('/', overview);
route('/apps', appsList);
route('/apps/new', appsNew);
route('/apps/*id', appDetail);
route('/tasks', tasksList);
route('/tasks/:id', taskDetail);
route('/agents', agentsList);
route('/agents/:id', agentDetail);
route('/frameworks', frameworksList);
route('/frameworks/:id', frameworkDetail);
route('/volumes', volumes);
route('/cluster', cluster);
start();
