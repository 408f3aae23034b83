/**
 * Chatbot FAQ chat box: posts the visitor's question to this site's REST route
 * (never to the chatbot itself) and shows the reply as text.
 *
 * @package ChatbotFaq
 */
( function () {
	'use strict';

	function parseTexts( box ) {
		try {
			return JSON.parse( box.getAttribute( 'data-texts' ) || '{}' );
		} catch ( e ) {
			return {};
		}
	}

	function init( box ) {
		var texts = parseTexts( box );
		var endpoint = box.getAttribute( 'data-endpoint' );
		var nonce = box.getAttribute( 'data-nonce' );
		var form = box.querySelector( '.chatbot-faq__form' );
		var input = box.querySelector( '.chatbot-faq__input' );
		var button = box.querySelector( '.chatbot-faq__send' );
		var log = box.querySelector( '.chatbot-faq__log' );
		var status = box.querySelector( '.chatbot-faq__status' );
		var busy = false;

		if ( ! endpoint || ! form || ! input || ! log || ! status ) {
			return;
		}

		function setStatus( text, isError ) {
			status.textContent = text || '';
			status.classList.toggle( 'chatbot-faq__status--error', !! isError );
			status.classList.toggle( 'chatbot-faq__status--waiting', !! text && ! isError );
		}

		function setBusy( value ) {
			busy = value;
			box.setAttribute( 'aria-busy', value ? 'true' : 'false' );
			box.classList.toggle( 'chatbot-faq--waiting', value );
			button.disabled = value;
			input.setAttribute( 'aria-disabled', value ? 'true' : 'false' );
		}

		function addMessage( who, label, text, sources ) {
			var item = document.createElement( 'div' );
			var name = document.createElement( 'span' );
			var body = document.createElement( 'span' );
			item.className = 'chatbot-faq__message chatbot-faq__message--' + who;
			name.className = 'chatbot-faq__who';
			name.textContent = label + ': ';
			body.className = 'chatbot-faq__text';
			// Replies are text, never HTML.
			body.textContent = text;
			item.appendChild( name );
			item.appendChild( body );
			if ( sources && sources.length ) {
				var list = document.createElement( 'span' );
				list.className = 'chatbot-faq__sources';
				list.textContent = ( texts.sources || 'Sources:' ) + ' ' + sources.join( ', ' );
				item.appendChild( list );
			}
			log.appendChild( item );
			log.scrollTop = log.scrollHeight;
		}

		function errorMessage( response, data ) {
			if ( data && typeof data.message === 'string' && data.message ) {
				return data.message;
			}
			if ( response && response.status === 504 ) {
				return texts.timeout;
			}
			return texts.error;
		}

		form.addEventListener( 'submit', function ( event ) {
			event.preventDefault();
			if ( busy ) {
				return;
			}
			var message = input.value.trim();
			if ( ! message ) {
				setStatus( texts.empty, true );
				input.focus();
				return;
			}

			addMessage( 'user', texts.you || 'You', message );
			input.value = '';
			setBusy( true );
			setStatus( texts.waiting, false );

			var controller = typeof AbortController === 'function' ? new AbortController() : null;
			var timer = controller ? window.setTimeout( function () {
				controller.abort();
			}, ( texts.timeoutSecs || 35 ) * 1000 ) : null;

			window.fetch( endpoint, {
				method: 'POST',
				credentials: 'same-origin',
				headers: {
					'Content-Type': 'application/json',
					Accept: 'application/json',
					'X-WP-Nonce': nonce
				},
				body: JSON.stringify( { message: message } ),
				signal: controller ? controller.signal : undefined
			} ).then( function ( response ) {
				return response.json().catch( function () {
					return null;
				} ).then( function ( data ) {
					if ( response.ok && data && typeof data.reply === 'string' ) {
						setStatus( '', false );
						addMessage( 'bot', texts.bot || 'Bot', data.reply, Array.isArray( data.sources ) ? data.sources : [] );
					} else {
						setStatus( errorMessage( response, data ), true );
					}
				} );
			} ).catch( function ( error ) {
				setStatus( error && error.name === 'AbortError' ? texts.timeout : texts.offline, true );
			} ).then( function () {
				if ( timer ) {
					window.clearTimeout( timer );
				}
				setBusy( false );
				input.focus();
			} );
		} );
	}

	function start() {
		var boxes = document.querySelectorAll( '.chatbot-faq[data-endpoint]' );
		for ( var i = 0; i < boxes.length; i++ ) {
			init( boxes[ i ] );
		}
	}

	if ( document.readyState === 'loading' ) {
		document.addEventListener( 'DOMContentLoaded', start );
	} else {
		start();
	}
}() );
