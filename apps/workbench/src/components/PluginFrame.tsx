/**
 * A plugin tab or node component: tenant code, run in `<iframe sandbox="allow-scripts" srcdoc=…>` (an opaque
 * origin: no access to this page, its storage, cookies or tokens; the document's own CSP allows no network).
 * The document is fetched with the workbench's credentials; the credentials never enter the frame.
 */
import { useEffect, useRef, useState } from 'react'
import { useApi } from '../app/context'
import { useResource } from '../hooks/useResource'
import { initMessage, MAX_FRAME_HEIGHT, readFrameMessage } from '../lib/plugin-frame'
import { ErrorNotice } from './ErrorNotice'

export interface PluginFrameProps {
  bundle: string
  title: string
  kind: 'tab' | 'node'
  props?: Record<string, unknown>
  minHeight?: number
  maxHeight?: number
  className?: string
}

export function PluginFrame({ bundle, title, kind, props, minHeight = 40, maxHeight = MAX_FRAME_HEIGHT, className }: PluginFrameProps) {
  const api = useApi()
  const doc = useResource(() => api.uiDocument(bundle), [api, bundle])
  const ref = useRef<HTMLIFrameElement>(null)
  const [height, setHeight] = useState(minHeight)
  const propsJson = JSON.stringify(props ?? {})

  useEffect(() => {
    const onMessage = (e: MessageEvent) => {
      const m = readFrameMessage(e, ref.current?.contentWindow, maxHeight)
      if (m) setHeight(Math.max(minHeight, m.height))
    }
    window.addEventListener('message', onMessage)
    return () => window.removeEventListener('message', onMessage)
  }, [minHeight, maxHeight])

  const init = () => ref.current?.contentWindow?.postMessage(initMessage(kind, JSON.parse(propsJson) as Record<string, unknown>), '*')
  // biome-ignore lint/correctness/useExhaustiveDependencies: re-sent when the props change
  useEffect(() => init(), [propsJson])

  if (doc.error) return <ErrorNotice error={doc.error} />
  if (doc.data === undefined) return <div className="plugin-frame plugin-frame--loading" style={{ height: minHeight }} aria-busy="true" />
  return (
    <iframe
      ref={ref}
      className={`plugin-frame${className ? ` ${className}` : ''}`}
      title={title}
      sandbox="allow-scripts"
      referrerPolicy="no-referrer"
      srcDoc={doc.data}
      onLoad={init}
      style={{ height }}
      data-bundle={bundle}
    />
  )
}
