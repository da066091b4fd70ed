/**
 * Entry of the CFP workbench: a single-page app under `/__cfp/`, served either by a runtime (`cfp dev`: the
 * runtime pages) or by the control plane (the login and admin pages). Which one is found out first
 * (lib/mode.ts), then the matching app renders.
 */
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { BrowserRouter } from 'react-router'
import { App } from './app/App'
import { AppProviders } from './app/context'
import { detectServer } from './lib/mode'
import './styles/base.css'
import './styles/components.css'
import './styles/pages.css'
import './styles/admin.css'

const root = document.getElementById('root')
if (!root) throw new Error('index.html has no #root element')

async function start(el: HTMLElement): Promise<void> {
  const { mode, runtimes } = await detectServer(undefined, import.meta.env.BASE_URL)
  document.documentElement.dataset.mode = mode
  // the admin pages (and the permission matrix) load only where a control plane serves the workbench
  const ControlApp = mode === 'control' ? (await import('./app/ControlApp')).ControlApp : undefined
  createRoot(el).render(
    <StrictMode>
      <BrowserRouter basename={import.meta.env.BASE_URL.replace(/\/$/, '')}>
        {ControlApp ? (
          <ControlApp runtimes={runtimes} />
        ) : (
          <AppProviders>
            <App />
          </AppProviders>
        )}
      </BrowserRouter>
    </StrictMode>,
  )
}

void start(root)
