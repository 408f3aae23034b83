<?php
/**
 * The settings page (Settings > Chatbot FAQ), for administrators only.
 *
 * @package ChatbotFaq
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Registers the option with the Settings API and renders its page. The API key is never printed back:
 * its field is always empty, and leaving it empty keeps the stored key.
 */
class Chatbot_FAQ_Admin {

	const PAGE = 'chatbot-faq';

	const GROUP = 'chatbot_faq';

	const CAPABILITY = 'manage_options';

	/**
	 * Hooks the page, the setting and the plugin-list link.
	 */
	public static function register_hooks() {
		add_action( 'admin_menu', array( __CLASS__, 'add_page' ) );
		add_action( 'admin_init', array( __CLASS__, 'register_settings' ) );
		add_filter( 'plugin_action_links_' . plugin_basename( CHATBOT_FAQ_FILE ), array( __CLASS__, 'action_links' ) );
	}

	/**
	 * Adds Settings > Chatbot FAQ.
	 */
	public static function add_page() {
		add_options_page(
			__( 'Chatbot FAQ', 'chatbot-faq' ),
			__( 'Chatbot FAQ', 'chatbot-faq' ),
			self::CAPABILITY,
			self::PAGE,
			array( __CLASS__, 'render_page' )
		);
	}

	/**
	 * A "Settings" link on the Plugins screen.
	 *
	 * @param array<int|string, string> $links Existing links.
	 * @return array<int|string, string>
	 */
	public static function action_links( $links ) {
		if ( current_user_can( self::CAPABILITY ) ) {
			$url = admin_url( 'options-general.php?page=' . self::PAGE );
			array_unshift( $links, '<a href="' . esc_url( $url ) . '">' . esc_html__( 'Settings', 'chatbot-faq' ) . '</a>' );
		}
		return $links;
	}

	/**
	 * Registers the option, its section and its fields.
	 */
	public static function register_settings() {
		register_setting(
			self::GROUP,
			Chatbot_FAQ_Settings::OPTION,
			array(
				'type'              => 'array',
				'sanitize_callback' => array( 'Chatbot_FAQ_Settings', 'sanitize' ),
				'default'           => Chatbot_FAQ_Settings::defaults(),
				'show_in_rest'      => false,
			)
		);

		add_settings_section(
			'chatbot_faq_connection',
			__( 'Connection to the chatbot', 'chatbot-faq' ),
			array( __CLASS__, 'render_connection_intro' ),
			self::PAGE
		);
		add_settings_section(
			'chatbot_faq_display',
			__( 'Chat box', 'chatbot-faq' ),
			'__return_false',
			self::PAGE
		);

		$fields = array(
			'api_url'     => array( __( 'API URL', 'chatbot-faq' ), 'chatbot_faq_connection' ),
			'api_key'     => array( __( 'API key', 'chatbot-faq' ), 'chatbot_faq_connection' ),
			'verify_tls'  => array( __( 'TLS certificate', 'chatbot-faq' ), 'chatbot_faq_connection' ),
			'rate_limit'  => array( __( 'Questions per minute per visitor', 'chatbot-faq' ), 'chatbot_faq_connection' ),
			'title'       => array( __( 'Title', 'chatbot-faq' ), 'chatbot_faq_display' ),
			'placeholder' => array( __( 'Placeholder', 'chatbot-faq' ), 'chatbot_faq_display' ),
		);
		foreach ( $fields as $name => $field ) {
			add_settings_field(
				'chatbot_faq_' . $name,
				$field[0],
				array( __CLASS__, 'render_field' ),
				self::PAGE,
				$field[1],
				array(
					'name'      => $name,
					'label_for' => 'verify_tls' === $name ? null : 'chatbot_faq_' . $name,
				)
			);
		}
	}

	/**
	 * The connection section's introduction.
	 */
	public static function render_connection_intro() {
		echo '<p>' . esc_html__( 'Visitors only talk to this site: WordPress calls the chatbot with the key, which never reaches the browser.', 'chatbot-faq' ) . '</p>';
		echo '<p>' . wp_kses(
			sprintf(
				/* translators: 1: CHATBOT_FAQ_API_URL, 2: CHATBOT_FAQ_API_KEY, 3: CHATBOT_FAQ_VERIFY_TLS, 4: wp-config.php */
				__( 'The safest place for the key is %4$s: constants %1$s, %2$s and %3$s defined there win over this page.', 'chatbot-faq' ),
				'<code>CHATBOT_FAQ_API_URL</code>',
				'<code>CHATBOT_FAQ_API_KEY</code>',
				'<code>CHATBOT_FAQ_VERIFY_TLS</code>',
				'<code>wp-config.php</code>'
			),
			array( 'code' => array() )
		) . '</p>';
	}

	/**
	 * Renders one field.
	 *
	 * @param array<string, string|null> $args Field arguments: name.
	 */
	public static function render_field( $args ) {
		$name     = (string) $args['name'];
		$settings = Chatbot_FAQ_Settings::stored();
		$locked   = Chatbot_FAQ_Settings::is_constant( $name );
		$id       = 'chatbot_faq_' . $name;
		$field    = Chatbot_FAQ_Settings::OPTION . '[' . $name . ']';

		switch ( $name ) {
			case 'api_url':
				$value = $locked ? (string) Chatbot_FAQ_Settings::get( 'api_url' ) : (string) $settings['api_url'];
				printf(
					'<input type="url" class="regular-text code" id="%1$s" name="%2$s" value="%3$s" placeholder="https://chatbot.example.com" %4$s>',
					esc_attr( $id ),
					esc_attr( $field ),
					esc_attr( $value ),
					disabled( $locked, true, false )
				);
				echo '<p class="description">' . esc_html__( 'The chatbot\'s address; WordPress calls its /chat endpoint.', 'chatbot-faq' ) . '</p>';
				if ( self::is_cleartext_remote( $value ) ) {
					echo '<p class="description chatbot-faq-warning"><strong>' . esc_html__( 'This address uses http://: the API key would cross the network unencrypted. Use https://.', 'chatbot-faq' ) . '</strong></p>';
				}
				break;

			case 'api_key':
				$has_key = '' !== (string) Chatbot_FAQ_Settings::get( 'api_key' );
				printf(
					'<input type="password" class="regular-text" id="%1$s" name="%2$s" value="" autocomplete="new-password" spellcheck="false" placeholder="%3$s" %4$s>',
					esc_attr( $id ),
					esc_attr( $field ),
					esc_attr( $has_key ? __( 'Saved (hidden). Type a new key to replace it.', 'chatbot-faq' ) : '' ),
					disabled( $locked, true, false )
				);
				if ( ! $locked && '' !== (string) $settings['api_key'] ) {
					printf(
						'<p><label><input type="checkbox" name="%1$s" value="1"> %2$s</label></p>',
						esc_attr( Chatbot_FAQ_Settings::OPTION . '[api_key_clear]' ),
						esc_html__( 'Delete the saved key', 'chatbot-faq' )
					);
				}
				echo '<p class="description">' . esc_html__( 'Sent as x-api-key by WordPress only. It is never shown again, in this page or any other.', 'chatbot-faq' ) . '</p>';
				break;

			case 'verify_tls':
				$checked = $locked ? (bool) Chatbot_FAQ_Settings::get( 'verify_tls' ) : (bool) $settings['verify_tls'];
				printf(
					'<input type="hidden" name="%1$s" value="1"><label for="%2$s"><input type="checkbox" id="%2$s" name="%3$s" value="1" %4$s %5$s> %6$s</label>',
					esc_attr( Chatbot_FAQ_Settings::OPTION . '[form]' ),
					esc_attr( $id ),
					esc_attr( $field ),
					checked( $checked, true, false ),
					disabled( $locked, true, false ),
					esc_html__( 'Verify the chatbot\'s TLS certificate', 'chatbot-faq' )
				);
				echo '<p class="description">' . esc_html__( 'Untick only for a chatbot with a self-signed certificate that you trust, for example on your own network.', 'chatbot-faq' ) . '</p>';
				break;

			case 'rate_limit':
				printf(
					'<input type="number" class="small-text" id="%1$s" name="%2$s" value="%3$d" min="0" max="%4$d" step="1">',
					esc_attr( $id ),
					esc_attr( $field ),
					(int) $settings['rate_limit'],
					(int) Chatbot_FAQ_Settings::MAX_RATE_LIMIT
				);
				echo '<p class="description">' . esc_html__( '0 turns the limit off.', 'chatbot-faq' ) . '</p>';
				break;

			case 'title':
			case 'placeholder':
				printf(
					'<input type="text" class="regular-text" id="%1$s" name="%2$s" value="%3$s" placeholder="%4$s">',
					esc_attr( $id ),
					esc_attr( $field ),
					esc_attr( (string) $settings[ $name ] ),
					esc_attr( 'title' === $name ? __( 'Smart FAQ', 'chatbot-faq' ) : __( 'Ask a question...', 'chatbot-faq' ) )
				);
				break;
		}

		if ( $locked ) {
			echo '<p class="description"><strong>' . esc_html__( 'Set in wp-config.php: this value cannot be changed here.', 'chatbot-faq' ) . '</strong></p>';
		}
	}

	/**
	 * Whether a URL sends the key in clear text to another machine (http:// to a host other than this one).
	 *
	 * @param string $url API URL.
	 * @return bool
	 */
	private static function is_cleartext_remote( $url ) {
		$parts = wp_parse_url( $url );
		if ( empty( $parts['scheme'] ) || 'http' !== strtolower( $parts['scheme'] ) || empty( $parts['host'] ) ) {
			return false;
		}
		return ! in_array( strtolower( trim( $parts['host'], '[]' ) ), array( 'localhost', '127.0.0.1', '::1' ), true );
	}

	/**
	 * Renders the settings page.
	 */
	public static function render_page() {
		if ( ! current_user_can( self::CAPABILITY ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to manage these settings.', 'chatbot-faq' ), 403 );
		}
		?>
		<div class="wrap">
			<h1><?php echo esc_html( get_admin_page_title() ); ?></h1>
			<?php if ( ! Chatbot_FAQ_Settings::is_configured() ) : ?>
				<div class="notice notice-warning inline"><p><?php esc_html_e( 'Set the API URL and the API key, then add [chatbot_faq] to a page.', 'chatbot-faq' ); ?></p></div>
			<?php endif; ?>
			<form action="options.php" method="post">
				<?php
				settings_fields( self::GROUP );
				do_settings_sections( self::PAGE );
				submit_button();
				?>
			</form>
		</div>
		<?php
	}
}
